//! The crate graph keeps the rules of `docs/architecture.md`: this test reads the rule table
//! from that page (so the page and the check cannot disagree), the workspace's dependency graph
//! from `cargo metadata`, and fails naming every path that breaks a rule.
//!
//! Edges are normal and build dependencies between workspace members, optional and
//! platform-specific ones included. Dev-dependencies are left out on purpose: a crate's tests
//! may use anything (the end-to-end tests start real agents against real collectors), and
//! they never end up in a build of the crate itself.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const ARCHITECTURE_DOC: &str = "docs/architecture.md";
const TABLE_HEADER: [&str; 4] = ["crate", "role", "may depend on (ours)", "must not depend on"];

/// Workspace member → the workspace members it depends on directly.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// Which of our crates one crate may reach, directly or through others.
#[derive(Debug, PartialEq)]
enum Allowed {
    Anything,
    Only(BTreeSet<String>),
}

/// One row of the table.
#[derive(Debug, PartialEq)]
struct Rule {
    may: Allowed,
    must_not: BTreeSet<String>,
}

/// Reads the rule table: the one whose header is [`TABLE_HEADER`]. A cell that is not `nothing`,
/// `anything`, `—` or a comma-separated list of backticked crate names is an error, so a typo
/// in the page cannot silently loosen a rule.
fn parse_rules(markdown: &str) -> Result<BTreeMap<String, Rule>, String> {
    let mut lines = markdown.lines().map(str::trim);
    lines
        .by_ref()
        .find(|line| cells(line).is_some_and(|c| c.iter().map(|s| s.to_lowercase()).eq(TABLE_HEADER)))
        .ok_or_else(|| format!("no table with the header | {} |", TABLE_HEADER.join(" | ")))?;
    lines
        .next()
        .filter(|l| l.chars().all(|c| "|-: ".contains(c)))
        .ok_or("the rule table has no |---| line under its header")?;
    let mut rules = BTreeMap::new();
    for line in lines.take_while(|l| l.starts_with('|')) {
        let Some(&[krate, _role, may, must_not]) = cells(line).as_deref() else {
            return Err(format!("row is not {} cells: {line}", TABLE_HEADER.len()));
        };
        let name = backticked(krate).next().ok_or_else(|| format!("no `crate-name` in {krate:?}"))?.to_owned();
        let may = match may {
            "anything" => Allowed::Anything,
            "nothing" => Allowed::Only(BTreeSet::new()),
            list => Allowed::Only(crate_list(list).map_err(|e| format!("{name}: may depend on: {e}"))?),
        };
        let must_not = match must_not {
            "—" => BTreeSet::new(),
            list => crate_list(list).map_err(|e| format!("{name}: must not depend on: {e}"))?,
        };
        if rules.insert(name.clone(), Rule { may, must_not }).is_some() {
            return Err(format!("{name} has two rows"));
        }
    }
    Ok(rules)
}

fn cells(line: &str) -> Option<Vec<&str>> {
    let inner = line.strip_prefix('|')?.strip_suffix('|')?;
    Some(inner.split('|').map(str::trim).collect())
}

fn backticked(text: &str) -> impl Iterator<Item = &str> {
    text.split('`').skip(1).step_by(2)
}

fn crate_list(cell: &str) -> Result<BTreeSet<String>, String> {
    cell.split(',')
        .map(|item| {
            let name = item.trim().strip_prefix('`').and_then(|s| s.strip_suffix('`'));
            name.filter(|n| !n.is_empty() && !n.contains('`'))
                .map(str::to_owned)
                .ok_or_else(|| format!("{item:?} is not a `crate-name` (write nothing, anything, — or `a`, `b`)"))
        })
        .collect()
}

/// The graph of dependencies between workspace members in `cargo metadata --no-deps` output.
fn graph_from_metadata(metadata: &Value) -> Result<Graph, String> {
    let packages = metadata["packages"].as_array().ok_or("cargo metadata has no packages")?;
    let members: BTreeSet<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    let mut graph = Graph::new();
    for package in packages {
        let name = package["name"].as_str().ok_or("a package has no name")?;
        let dependencies = package["dependencies"].as_array().ok_or_else(|| format!("{name} has no dependencies"))?;
        let ours = dependencies
            .iter()
            .filter(|d| d["kind"].as_str() != Some("dev"))
            // A path dependency on a member; a registry crate of the same name would have no path.
            .filter(|d| d["path"].is_string())
            .filter_map(|d| d["name"].as_str())
            .filter(|d| members.contains(d))
            .map(str::to_owned);
        graph.entry(name.to_owned()).or_default().extend(ours);
    }
    Ok(graph)
}

/// Every way `graph` breaks `rules`, one line each, naming the path of crates from the
/// dependent to the forbidden dependency (the shortest, when there are several).
fn violations(graph: &Graph, rules: &BTreeMap<String, Rule>) -> Vec<String> {
    let mut found = Vec::new();
    for krate in graph.keys() {
        let Some(rule) = rules.get(krate) else {
            found.push(format!("{krate} is a workspace member with no row in {ARCHITECTURE_DOC}"));
            continue;
        };
        for (dependency, path) in reachable(graph, krate) {
            let path = path.join(" → ");
            if rule.must_not.contains(&dependency) {
                found.push(format!("{path}: {krate} must not depend on {dependency}"));
            } else if let Allowed::Only(allowed) = &rule.may
                && !allowed.contains(&dependency)
            {
                let rule = if allowed.is_empty() {
                    "may depend on none of our crates".to_owned()
                } else {
                    format!("may depend only on {}", allowed.iter().cloned().collect::<Vec<_>>().join(", "))
                };
                found.push(format!("{path}: {krate} {rule}"));
            }
        }
    }
    found
}

/// Every crate `start` depends on, directly or not, each with the shortest path to it
/// (`start` first), in name order.
fn reachable(graph: &Graph, start: &str) -> BTreeMap<String, Vec<String>> {
    let mut paths: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut queue = VecDeque::from([vec![start.to_owned()]]);
    while let Some(path) = queue.pop_front() {
        let last = path.last().map(String::as_str).unwrap_or(start);
        for next in graph.get(last).into_iter().flatten() {
            if next != start && !paths.contains_key(next) {
                let mut longer = path.clone();
                longer.push(next.clone());
                paths.insert(next.clone(), longer.clone());
                queue.push_back(longer);
            }
        }
    }
    paths
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn cargo_metadata() -> Value {
    // Cargo sets CARGO for the tests it runs: the same cargo, whatever is on PATH.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--manifest-path"])
        .arg(workspace_root().join("Cargo.toml"))
        .output()
        .expect("run cargo metadata");
    assert!(output.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON")
}

#[test]
fn the_workspace_keeps_the_crate_graph_of_docs_architecture() {
    let doc = std::fs::read_to_string(workspace_root().join(ARCHITECTURE_DOC)).expect("read docs/architecture.md");
    let rules = parse_rules(&doc).unwrap_or_else(|e| panic!("{ARCHITECTURE_DOC}: {e}"));
    let graph = graph_from_metadata(&cargo_metadata()).expect("read cargo metadata");
    for krate in ["haidang-proto", "haidang-rules", "haidang-agent", "haidang-collector"] {
        assert!(graph.contains_key(krate), "{krate} is not in the workspace: is this the right cargo metadata?");
    }
    let broken = violations(&graph, &rules);
    assert!(broken.is_empty(), "the crate graph breaks the rules of {ARCHITECTURE_DOC}:\n  {}", broken.join("\n  "));
}

/// The check itself, on synthetic graphs and tables.
mod synthetic {
    use super::*;

    const TABLE: &str = "
| crate | role | may depend on (ours) | must not depend on |
|-------|------|----------------------|--------------------|
| `haidang-proto` (proto/) | types | nothing | — |
| `haidang-rules` (rules/) | engine | `haidang-proto` | — |
| `haidang-agent` (agent/) | agent | `haidang-proto`, `haidang-rules` | `haidang-collector` |
| `haidang-collector` (collector/) | collector | anything | `haidang-agent` |
| `haidang-future` (future/) | not a member yet | nothing | — |
";

    fn graph(edges: &[(&str, &str)]) -> Graph {
        let mut graph = Graph::new();
        for (from, to) in edges {
            graph.entry((*from).to_owned()).or_default().insert((*to).to_owned());
            graph.entry((*to).to_owned()).or_default();
        }
        graph
    }

    fn check(edges: &[(&str, &str)]) -> Vec<String> {
        violations(&graph(edges), &parse_rules(TABLE).expect("table parses"))
    }

    #[test]
    fn a_graph_that_keeps_the_rules_passes() {
        let edges = [
            ("haidang-rules", "haidang-proto"),
            ("haidang-agent", "haidang-rules"),
            ("haidang-agent", "haidang-proto"),
            ("haidang-collector", "haidang-rules"),
        ];
        assert_eq!(check(&edges), Vec::<String>::new());
    }

    #[test]
    fn each_forbidden_edge_is_named() {
        let edges = [
            ("haidang-rules", "haidang-proto"),
            ("haidang-collector", "haidang-agent"),
            ("haidang-rules", "haidang-agent"),
            ("haidang-agent", "haidang-proto"),
        ];
        assert_eq!(
            check(&edges),
            [
                "haidang-collector → haidang-agent: haidang-collector must not depend on haidang-agent",
                "haidang-rules → haidang-agent: haidang-rules may depend only on haidang-proto",
            ]
        );
    }

    #[test]
    fn a_forbidden_dependency_through_another_crate_is_named_with_its_path() {
        let edges = [("haidang-collector", "haidang-rules"), ("haidang-rules", "haidang-agent")];
        let broken = check(&edges);
        assert!(
            broken.contains(
                &"haidang-collector → haidang-rules → haidang-agent: haidang-collector must not depend on haidang-agent"
                    .to_owned()
            ),
            "{broken:#?}"
        );
    }

    #[test]
    fn proto_may_depend_on_none_of_our_crates() {
        assert_eq!(
            check(&[("haidang-proto", "haidang-rules")]),
            ["haidang-proto → haidang-rules: haidang-proto may depend on none of our crates"]
        );
    }

    #[test]
    fn a_member_without_a_row_fails_and_a_row_without_a_member_does_not() {
        assert_eq!(
            check(&[("haidang-new", "haidang-proto")]),
            [format!("haidang-new is a workspace member with no row in {ARCHITECTURE_DOC}")]
        );
    }

    #[test]
    fn a_misspelt_cell_is_an_error_not_a_looser_rule() {
        let table = TABLE.replace("| `haidang-proto` | — |", "| haidang-proto | — |");
        let error = parse_rules(&table).expect_err("unquoted crate name");
        assert!(error.contains("haidang-rules: may depend on"), "{error}");
        assert!(parse_rules("no table here").is_err());
    }

    #[test]
    fn dev_dependencies_are_not_edges() {
        let metadata = serde_json::json!({"packages": [
            {"name": "haidang-collector", "dependencies": [
                {"name": "haidang-agent", "kind": "dev", "path": "/ws/agent"},
                {"name": "haidang-rules", "kind": null, "path": "/ws/rules"},
                {"name": "haidang-proto", "kind": "build", "path": "/ws/proto"},
                {"name": "serde", "kind": null},
            ]},
            {"name": "haidang-agent", "dependencies": []},
            {"name": "haidang-rules", "dependencies": []},
            {"name": "haidang-proto", "dependencies": []},
        ]});
        let graph = graph_from_metadata(&metadata).expect("graph");
        assert_eq!(
            graph["haidang-collector"],
            BTreeSet::from(["haidang-proto".to_owned(), "haidang-rules".to_owned()])
        );
    }
}
