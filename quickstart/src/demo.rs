//! What the demo agent watches, and the guide printed for the person trying it.

use std::net::SocketAddr;
use std::path::Path;

/// The demo agent's configuration: FIM over `demo` (with `demo/secret` critical), the process
/// table, and YARA scanning with `yara_rules` (the repository's shipped rules when run from
/// it; none turns scanning off, rather than looking for the packaged `/etc/haidang/yara` a
/// checkout does not have).
pub(crate) fn agent_config(demo: &Path, yara_rules: Option<&Path>) -> String {
    let root = demo.display().to_string();
    let rules = yara_rules.map(|r| format!("{:?}", r.display().to_string())).unwrap_or_default();
    format!(
        "[fim]\npaths = [{root:?}]\nexclude = [\"**/*.tmp\", \"**/*.swp\"]\ncritical = [{:?}]\nrescan_interval = \"1m\"\n\
         [process]\nenabled = true\n[scan]\nyara_rules = [{rules}]\n[uplink]\nheartbeat_interval = \"30s\"\n",
        format!("{root}/secret/**")
    )
}

/// Where things are, for the guide.
pub(crate) struct Guide<'a> {
    pub demo: &'a Path,
    pub yara_rules: Option<&'a Path>,
    pub api_token: &'a Path,
    /// The collector binary as the reader can type it.
    pub collector: &'a Path,
    pub http: SocketAddr,
}

impl Guide<'_> {
    pub(crate) fn print(&self) {
        let demo = self.demo.display();
        let http = self.http;
        let api = if http.port() == 8080 && http.ip().is_loopback() {
            String::new()
        } else {
            format!(" --api http://{http}")
        };
        let collector = format!("{}{api}", self.collector.display());
        println!();
        println!("A demo agent is enrolled and watching {demo} and the process table.");
        match self.yara_rules {
            Some(rules) => {
                println!("New and changed files there are scanned with the YARA rules in {}.", rules.display())
            }
            None => println!("YARA scanning is off: run from the repository to use its rules in rules/yara."),
        }
        println!("In another terminal, try:");
        println!();
        println!("  export HAIDANG_API_TOKEN=$(cat {})", self.api_token.display());
        println!("  echo \"kế hoạch\" > {demo}/secret/plan.txt      # a critical change");
        println!("  echo x > {demo}/notes.txt");
        if self.yara_rules.is_some() {
            // The EICAR test file, written in two pieces so that this program is not one.
            println!(
                "  printf '%s%s' 'X5O!P%@AP[4\\PZX54(P^)7CC)7}}$' 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' > {demo}/eicar.com   # malware"
            );
        }
        println!("  {collector} events list --kind file");
        println!("  {collector} alerts list");
        println!("  {collector} agents list");
        println!();
        println!("Press Ctrl-C to stop both.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yara_rules(config: &str) -> Vec<String> {
        let config: toml::Table = config.parse().expect("the demo config is TOML");
        let rules = config["scan"]["yara_rules"].as_array().expect("yara_rules is a list");
        rules.iter().map(|r| r.as_str().expect("a path").to_string()).collect()
    }

    #[test]
    fn the_demo_scans_with_the_shipped_rules_or_not_at_all() {
        let demo = Path::new("/tmp/haidang-data/demo");
        let rules = Path::new("/work/rules/yara");
        assert_eq!(yara_rules(&agent_config(demo, Some(rules))), ["/work/rules/yara"]);
        assert!(yara_rules(&agent_config(demo, None)).is_empty());
    }

    #[test]
    fn the_secret_folder_is_critical() {
        let config: toml::Table = agent_config(Path::new("/d/demo"), None).parse().expect("TOML");
        assert_eq!(config["fim"]["paths"][0].as_str(), Some("/d/demo"));
        assert_eq!(config["fim"]["critical"][0].as_str(), Some("/d/demo/secret/**"));
    }
}
