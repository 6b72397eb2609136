//! `tidemark run --board a,b`: the same sessions on several boards, their
//! `--json` answers compared command by command, without the fields that
//! are a board's or an engine's own (`tests/sessions/board-fields.txt`,
//! the list the session suite's board comparisons use too).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// One command's answer on one board.
#[derive(Clone, Debug)]
pub struct Answer {
    /// Script file.
    pub script: String,
    /// Line number in it.
    pub line: usize,
    /// The command.
    pub command: String,
    /// Its `--json` output (a string when it printed no JSON).
    pub output: Value,
}

/// A field whose value differs between boards.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Difference {
    /// Script file.
    pub script: String,
    /// Line number.
    pub line: usize,
    /// The command.
    pub command: String,
    /// Where in its output (`[2].state`; empty: the whole output).
    pub path: String,
    /// The value on each board (`null` where the field is absent).
    pub values: BTreeMap<String, Value>,
}

/// What a multi-board run found.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Comparison {
    /// The boards, in the order given.
    pub boards: Vec<String>,
    /// Commands compared (run on every board).
    pub compared: usize,
    /// Commands not run on every board (a script failed or was skipped
    /// on one), by `script:line`.
    pub unmatched: Vec<String>,
    /// Fields that differ.
    pub differences: Vec<Difference>,
}

/// Field names whose values are a board's or engine's own: skipped.
pub fn board_fields() -> Vec<&'static str> {
    include_str!("../../tests/sessions/board-fields.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// The leaves of `v` by path, without the skipped fields.
fn flatten(v: &Value, path: String, skip: &[&str], out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m.iter().filter(|(k, _)| !skip.contains(&k.as_str())) {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                flatten(v, p, skip, out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, v) in a.iter().enumerate() {
                flatten(v, format!("{path}[{i}]"), skip, out);
            }
        }
        v => {
            out.insert(path, v.clone());
        }
    }
}

/// Compares each command's answers across boards (`runs[i]` is board i's).
pub fn compare(boards: &[String], runs: &[Vec<Answer>]) -> Comparison {
    let skip = board_fields();
    let key = |a: &Answer| (a.script.clone(), a.line);
    let mut by_line: BTreeMap<(String, usize), Vec<Option<&Answer>>> = BTreeMap::new();
    for (i, run) in runs.iter().enumerate() {
        for a in run {
            by_line
                .entry(key(a))
                .or_insert_with(|| vec![None; runs.len()])[i] = Some(a);
        }
    }
    let mut out = Comparison {
        boards: boards.to_vec(),
        compared: 0,
        unmatched: Vec::new(),
        differences: Vec::new(),
    };
    for ((script, line), answers) in by_line {
        let Some(answers) = answers.into_iter().collect::<Option<Vec<&Answer>>>() else {
            out.unmatched.push(format!("{script}:{line}"));
            continue;
        };
        out.compared += 1;
        let flat: Vec<BTreeMap<String, Value>> = answers
            .iter()
            .map(|a| {
                let mut m = BTreeMap::new();
                flatten(&a.output, String::new(), &skip, &mut m);
                m
            })
            .collect();
        let mut paths: Vec<&String> = flat.iter().flat_map(|m| m.keys()).collect();
        paths.sort();
        paths.dedup();
        for path in paths {
            let values: Vec<Value> = flat
                .iter()
                .map(|m| m.get(path).cloned().unwrap_or(Value::Null))
                .collect();
            if values.windows(2).any(|w| w[0] != w[1]) {
                out.differences.push(Difference {
                    script: script.clone(),
                    line,
                    command: answers[0].command.clone(),
                    path: path.clone(),
                    values: boards.iter().cloned().zip(values).collect(),
                });
            }
        }
    }
    out
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        v => v.to_string(),
    }
}

impl Comparison {
    /// Side by side: per differing command, one row per field with each
    /// board's value.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let mut last: Option<(&str, usize)> = None;
        let width = self
            .boards
            .iter()
            .map(String::len)
            .max()
            .unwrap_or(0)
            .max(5);
        for d in &self.differences {
            if last != Some((&d.script, d.line)) {
                out.push_str(&format!("{}:{} `{}`\n", d.script, d.line, d.command));
                let mut head = format!("  {:<28}", "FIELD");
                for b in &self.boards {
                    head.push_str(&format!("  {b:<width$}"));
                }
                out.push_str(head.trim_end());
                out.push('\n');
                last = Some((&d.script, d.line));
            }
            let path = if d.path.is_empty() {
                "(output)"
            } else {
                &d.path
            };
            let mut row = format!("  {path:<28}");
            for b in &self.boards {
                row.push_str(&format!("  {:<width$}", show(&d.values[b])));
            }
            out.push_str(row.trim_end());
            out.push('\n');
        }
        for u in &self.unmatched {
            out.push_str(&format!("{u}: not run on every board\n"));
        }
        out.push_str(&format!(
            "{}: {} commands compared, {} differ{}",
            self.boards.join(" vs "),
            self.compared,
            self.differences
                .iter()
                .map(|d| (&d.script, d.line))
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            if self.unmatched.is_empty() {
                String::new()
            } else {
                format!(", {} not run on every board", self.unmatched.len())
            }
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(line: usize, output: Value) -> Answer {
        Answer {
            script: "s.tms".into(),
            line,
            command: "info".into(),
            output,
        }
    }

    #[test]
    fn only_fields_that_differ_and_are_not_a_board_s_own_are_reported() {
        let boards = vec!["hosted".to_string(), "qemu-riscv32".to_string()];
        let a = vec![
            answer(
                1,
                json!({"engine": "wasmtime 48", "memory": 5, "state": "running", "pids": [1, 2]}),
            ),
            answer(2, json!("same")),
            answer(3, json!({"x": 1})),
        ];
        let b = vec![
            answer(
                1,
                json!({"engine": "wasmi 2", "memory": 9, "state": "blocked", "pids": [1]}),
            ),
            answer(2, json!("same")),
        ];
        let c = compare(&boards, &[a, b]);
        assert_eq!(c.compared, 2);
        assert_eq!(c.unmatched, ["s.tms:3"]);
        let rows: Vec<(&str, Vec<&Value>)> = c
            .differences
            .iter()
            .map(|d| (d.path.as_str(), d.values.values().collect()))
            .collect();
        // `engine` and `memory` are a board's own fields: not compared.
        assert_eq!(
            rows,
            [
                ("pids[1]", vec![&json!(2), &Value::Null]),
                ("state", vec![&json!("running"), &json!("blocked")]),
            ]
        );
        assert!(c.human().ends_with(
            "hosted vs qemu-riscv32: 2 commands compared, 1 differ, 1 not run on every board"
        ));
    }
}
