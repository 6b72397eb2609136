use clap::Parser;
use serde::Serialize;
use tidemark_svc::{Service, SvcError};

use crate::output::Human;
use crate::session::{Session, ShellError};

/// Sends one raw frame (hex: the 8-byte header, then the body) to a
/// service on the monitor's connection and prints its reply, decoded:
/// for probing how a service answers frames its clients would not send.
/// The reply is matched by the id in the frame's header.
#[derive(Parser)]
pub struct Args {
    /// `init`, `vfs`, `bus` or `kv`.
    service: String,
    /// The frame, as hex digits.
    frame: String,
}

/// A service's reply.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Reply {
    /// The service.
    pub service: String,
    /// Its answer, when it had one.
    pub answer: Option<serde_json::Value>,
    /// Its error, when it refused.
    pub error: Option<String>,
}

impl Human for Reply {
    fn human(&self) -> String {
        match (&self.answer, &self.error) {
            (_, Some(e)) => format!("{}: error: {e}", self.service),
            (Some(a), None) => format!("{}: {a}", self.service),
            (None, None) => format!("{}: (no answer)", self.service),
        }
    }
}

fn parse_service(name: &str) -> Result<Service, ShellError> {
    [Service::Init, Service::Fs, Service::Bus, Service::Kv]
        .into_iter()
        .find(|s| s.name() == name)
        .ok_or_else(|| ShellError::Usage(format!("no service `{name}` (init, vfs, bus, kv)")))
}

fn answer<A: serde::de::DeserializeOwned + Serialize>(s: &mut Session, service: Service, frame: Vec<u8>) -> Result<Reply, ShellError> {
    let reply = match crate::services::call_raw::<A>(s, service, frame) {
        Ok(a) => Ok(serde_json::to_value(a).ok()),
        Err(ShellError::Service(_, e)) => Err(e),
        Err(e) => return Err(e),
    };
    let (answer, error) = match reply {
        Ok(a) => (a, None),
        Err(e) => (None, Some(SvcError::to_string(&e))),
    };
    Ok(Reply { service: service.name().into(), answer, error })
}

fn run(s: &mut Session, a: Args) -> Result<Reply, ShellError> {
    let service = parse_service(&a.service)?;
    let frame = crate::output::parse_hex(&a.frame).map_err(ShellError::Usage)?;
    match service {
        Service::Init => answer::<tidemark_svc::init::Answer>(s, service, frame),
        Service::Fs => answer::<tidemark_svc::fs::Answer>(s, service, frame),
        Service::Bus => answer::<tidemark_svc::bus::Answer>(s, service, frame),
        Service::Kv => answer::<tidemark_svc::kv::Answer>(s, service, frame),
    }
}

super::command!("svc send", Mutation, Args, run);
