use clap::Parser;
use serde::Serialize;
use tidemark_protocol::req;

use crate::graph::{CapGraph, Change, Edge, diff};
use crate::output::{Human, table};
use crate::session::{Session, ShellError};

/// Shows who holds what: every live process's capabilities by object,
/// delegated from whom, with rights and the frames moved on each since
/// the last look; `--dot` for Graphviz, `--diff` for what changed since
/// the last look (a hot reload, a grant, a revoke).
#[derive(Parser)]
pub struct Args {
    /// Print Graphviz `dot` source instead of the table.
    #[arg(long, conflicts_with = "diff")]
    dot: bool,
    /// Print what changed since the last `caps graph` of this session.
    #[arg(long)]
    diff: bool,
}

/// The graph, its `dot` source, or the changes since the last look.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum GraphOut {
    /// The graph.
    Graph(CapGraph),
    /// Graphviz source.
    Dot {
        /// The `digraph`.
        dot: String,
    },
    /// Changes since the last look.
    Diff {
        /// Each capability added, removed or changed.
        changes: Vec<Change>,
    },
}

fn holder(e: &Edge) -> String {
    format!("pid {} {}", e.pid, e.process)
}

fn from(e: &Edge) -> String {
    e.from
        .map_or("kernel".into(), |(p, h)| format!("pid {p} {h:#x}"))
}

fn traffic(n: Option<u64>) -> String {
    n.map_or("-".into(), |n| format!("+{n}"))
}

fn edge_line(e: &Edge) -> String {
    format!(
        "{} {:#x} `{}` {} {} from {}",
        holder(e),
        e.handle,
        e.name,
        e.object,
        e.rights,
        from(e)
    )
}

impl Human for GraphOut {
    fn human(&self) -> String {
        match self {
            GraphOut::Dot { dot } => dot.trim_end().to_string(),
            GraphOut::Diff { changes } if changes.is_empty() => {
                "no capability changed since the last look".into()
            }
            GraphOut::Diff { changes } => changes
                .iter()
                .map(|c| match c {
                    Change::Added { edge } => format!("+ {}", edge_line(edge)),
                    Change::Removed { edge } => format!("- {}", edge_line(edge)),
                    Change::Changed { before, after } => format!(
                        "~ {} {:#x} `{}` {} {} → {} {}",
                        holder(after),
                        after.handle,
                        after.name,
                        before.object,
                        before.rights,
                        after.object,
                        after.rights
                    ),
                })
                .collect::<Vec<_>>()
                .join("\n"),
            GraphOut::Graph(g) => {
                let mut rows = Vec::new();
                for n in &g.objects {
                    for e in g.edges.iter().filter(|e| e.object == n.object) {
                        rows.push(vec![
                            format!("{} {}", n.object, n.name),
                            holder(e),
                            format!("{:#x}", e.handle),
                            e.name.clone(),
                            e.rights.to_string(),
                            from(e),
                            traffic(e.written),
                            traffic(e.read),
                        ]);
                    }
                }
                table(
                    &[
                        "OBJECT", "HOLDER", "HANDLE", "NAME", "RIGHTS", "FROM", "WRITTEN", "READ",
                    ],
                    &rows,
                )
            }
        }
    }
}

fn run(s: &mut Session, a: Args) -> Result<GraphOut, ShellError> {
    let dump = s.call(req::Dump {
        events: false,
        crash: false,
        memories: false,
    })?;
    let graph = CapGraph::new(&dump, s.last_graph.as_ref());
    let out = if a.diff {
        let last = s.last_graph.as_ref().ok_or_else(|| {
            ShellError::Usage("no earlier look to compare with: run `caps graph` first".into())
        })?;
        GraphOut::Diff {
            changes: diff(last, &graph),
        }
    } else if a.dot {
        GraphOut::Dot { dot: graph.dot() }
    } else {
        GraphOut::Graph(graph.clone())
    };
    s.last_graph = Some(graph);
    Ok(out)
}

super::command!("caps graph", Query, Args, run);
