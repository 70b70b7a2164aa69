//! Which published version goes to which enrollment group, and to what share of it.
//!
//! Staged in `rollout.json` of the release directory by `release rollout` on the collector's
//! host; read by the running collector on each agent's update request. It is not signed: it
//! only chooses among releases the offline key signed, and agents refuse a version older than
//! the one they run.

use super::ROLLOUT_FILE;
use anyhow::{Context, Result, bail};
use haidang_proto::AgentId;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollouts {
    /// At most one per group; the newest `release rollout` of a group replaces the previous.
    pub stages: Vec<Stage>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    pub group: String,
    pub version: String,
    /// Share of the group's agents (0 to 100) offered the version, by a stable hash of their id.
    pub percent: u8,
}

impl Rollouts {
    pub fn load(release: &Path) -> Result<Rollouts> {
        let path = release.join(ROLLOUT_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| format!("{} is unreadable", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Rollouts::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Replaces the group's stage and writes the file atomically.
    pub fn stage(release: &Path, stage: Stage) -> Result<()> {
        if stage.percent > 100 {
            bail!("percent must be 0 to 100");
        }
        let mut all = Rollouts::load(release)?;
        all.stages.retain(|s| s.group != stage.group);
        all.stages.push(stage);
        let path = release.join(ROLLOUT_FILE);
        let tmp = release.join(format!("{ROLLOUT_FILE}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec_pretty(&all)?)?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))
    }

    /// The version offered to one agent of `group`, if any.
    pub fn offered(&self, group: &str, agent: AgentId) -> Option<&str> {
        let stage = self.stages.iter().find(|s| s.group == group)?;
        (bucket(agent) < u32::from(stage.percent)).then_some(stage.version.as_str())
    }
}

/// An agent's place (0 to 99) in every rollout: stable, so raising the percentage only adds
/// agents, and spread evenly by the hash.
fn bucket(agent: AgentId) -> u32 {
    let hash = blake3::hash(agent.as_bytes());
    let bytes = hash.as_bytes();
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) % 100
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_takes_a_stable_growing_share_of_the_group() {
        let dir = tempfile::tempdir().expect("tempdir");
        let agents: Vec<AgentId> = (0..1000u32)
            .map(|i| AgentId(blake3::hash(&i.to_le_bytes()).as_bytes()[..16].try_into().expect("16 bytes")))
            .collect();
        let offered = |percent| {
            Rollouts::stage(dir.path(), Stage { group: "g".into(), version: "1.0.1".into(), percent }).expect("stage");
            let r = Rollouts::load(dir.path()).expect("load");
            assert_eq!(r.offered("other", agents[0]), None);
            agents.iter().filter(|a| r.offered("g", **a).is_some()).copied().collect::<Vec<_>>()
        };
        let (none, some, more, all) = (offered(0), offered(20), offered(60), offered(100));
        assert!(none.is_empty());
        assert_eq!(all.len(), 1000);
        assert!((150..250).contains(&some.len()), "{}", some.len());
        assert!((550..650).contains(&more.len()), "{}", more.len());
        assert!(some.iter().all(|a| more.contains(a)));
        assert!(Rollouts::stage(dir.path(), Stage { group: "g".into(), version: "1".into(), percent: 101 }).is_err());
    }
}
