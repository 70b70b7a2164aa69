//! The rule content shipped in the binary, so a collector detects out of the box with no rule
//! directory to install. `tests/shipped.rs` checks this list against `rules/sigma/`.

/// Every rule file embedded in the binary, as (name, YAML) pairs; a name is
/// `shipped:sigma/<path under rules/sigma/>`, as the load report shows it.
pub const RULES: &[(&str, &str)] = &[
    ("shipped:sigma/agent/agent_clock_jump.yml", include_str!("../sigma/agent/agent_clock_jump.yml")),
    ("shipped:sigma/agent/agent_spool_gap.yml", include_str!("../sigma/agent/agent_spool_gap.yml")),
    ("shipped:sigma/agent/agent_stopped.yml", include_str!("../sigma/agent/agent_stopped.yml")),
    ("shipped:sigma/agent/agent_unclean_restart.yml", include_str!("../sigma/agent/agent_unclean_restart.yml")),
    (
        "shipped:sigma/correlation/agent_repeated_unclean_restarts.yml",
        include_str!("../sigma/correlation/agent_repeated_unclean_restarts.yml"),
    ),
    (
        "shipped:sigma/correlation/dropped_file_executed.yml",
        include_str!("../sigma/correlation/dropped_file_executed.yml"),
    ),
    ("shipped:sigma/correlation/mass_file_deletion.yml", include_str!("../sigma/correlation/mass_file_deletion.yml")),
    ("shipped:sigma/dlp/dlp_block_not_enforced.yml", include_str!("../sigma/dlp/dlp_block_not_enforced.yml")),
    ("shipped:sigma/dlp/dlp_bulk_personal_data.yml", include_str!("../sigma/dlp/dlp_bulk_personal_data.yml")),
    ("shipped:sigma/dlp/dlp_secret_at_rest.yml", include_str!("../sigma/dlp/dlp_secret_at_rest.yml")),
    ("shipped:sigma/dlp/dlp_state_secret_marking.yml", include_str!("../sigma/dlp/dlp_state_secret_marking.yml")),
    (
        "shipped:sigma/linux/file/file_account_database_changed.yml",
        include_str!("../sigma/linux/file/file_account_database_changed.yml"),
    ),
    (
        "shipped:sigma/linux/file/file_critical_path_changed.yml",
        include_str!("../sigma/linux/file/file_critical_path_changed.yml"),
    ),
    (
        "shipped:sigma/linux/file/file_cron_persistence.yml",
        include_str!("../sigma/linux/file/file_cron_persistence.yml"),
    ),
    ("shipped:sigma/linux/file/file_ld_preload.yml", include_str!("../sigma/linux/file/file_ld_preload.yml")),
    ("shipped:sigma/linux/file/file_log_deleted.yml", include_str!("../sigma/linux/file/file_log_deleted.yml")),
    (
        "shipped:sigma/linux/file/file_ssh_authorized_keys.yml",
        include_str!("../sigma/linux/file/file_ssh_authorized_keys.yml"),
    ),
    (
        "shipped:sigma/linux/file/file_system_binary_replaced.yml",
        include_str!("../sigma/linux/file/file_system_binary_replaced.yml"),
    ),
    (
        "shipped:sigma/linux/file/file_systemd_unit_created.yml",
        include_str!("../sigma/linux/file/file_systemd_unit_created.yml"),
    ),
    (
        "shipped:sigma/linux/process_creation/proc_agent_stopped_by_command.yml",
        include_str!("../sigma/linux/process_creation/proc_agent_stopped_by_command.yml"),
    ),
    (
        "shipped:sigma/linux/process_creation/proc_base64_decoded_to_shell.yml",
        include_str!("../sigma/linux/process_creation/proc_base64_decoded_to_shell.yml"),
    ),
    (
        "shipped:sigma/linux/process_creation/proc_download_pipe_shell.yml",
        include_str!("../sigma/linux/process_creation/proc_download_pipe_shell.yml"),
    ),
    (
        "shipped:sigma/linux/process_creation/proc_history_cleared.yml",
        include_str!("../sigma/linux/process_creation/proc_history_cleared.yml"),
    ),
    (
        "shipped:sigma/linux/process_creation/proc_reverse_shell.yml",
        include_str!("../sigma/linux/process_creation/proc_reverse_shell.yml"),
    ),
    (
        "shipped:sigma/linux/process_creation/proc_setuid_bit_set.yml",
        include_str!("../sigma/linux/process_creation/proc_setuid_bit_set.yml"),
    ),
    (
        "shipped:sigma/linux/process_creation/proc_user_account_created.yml",
        include_str!("../sigma/linux/process_creation/proc_user_account_created.yml"),
    ),
    ("shipped:sigma/malware/malware_yara_match.yml", include_str!("../sigma/malware/malware_yara_match.yml")),
];
