use clap::Parser;
use serde::Serialize;
use tidemark_svc::Service;
use tidemark_svc::init::{Answer, Request, UnitInfo};

use crate::output::{Human, table};
use crate::session::{Session, ShellError};

/// Lists the units init supervises: services and the guests it started,
/// with their state, pid, restarts and how each last ended.
#[derive(Parser)]
pub struct Args {}

/// Init's units, in boot-plan order.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Units {
    /// Every unit.
    pub units: Vec<UnitInfo>,
}

impl Human for Units {
    fn human(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .units
            .iter()
            .map(|u| {
                vec![
                    u.name.clone(),
                    u.state.word().into(),
                    u.pid.map_or("-".into(), |p| p.to_string()),
                    u.restarts.to_string(),
                    if u.after.is_empty() { "-".into() } else { u.after.join(",") },
                    u.last_error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        table(&["NAME", "STATE", "PID", "RESTARTS", "AFTER", "LAST EXIT"], &rows)
    }
}

/// Asks init for its units.
pub fn units(s: &mut Session) -> Result<Vec<UnitInfo>, ShellError> {
    match crate::services::call(s, Service::Init, &Request::List)? {
        Answer::Units(units) => Ok(units),
        other => Err(ShellError::Protocol(format!("init answered {other:?} to a list"))),
    }
}

fn run(s: &mut Session, _: Args) -> Result<Units, ShellError> {
    units(s).map(|units| Units { units })
}

super::command!("svc ls", Query, Args, run);
