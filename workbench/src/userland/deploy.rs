//! Boots the userland on a kernel over its monitor: the service packages,
//! the connection channels, the image region, then init holding them all.

use tidemark_abi::{Backpressure, Rights};
use tidemark_protocol::{GrantSpec, ObjectRef, req};
use tidemark_shell::Client;

use super::plan::{self, BootPlan, GuestUnit, IMAGE};
use super::{Userland, image};

/// The service packages, built with the example guests.
pub const PACKAGES: [&str; 4] = ["init", "vfs", "bus", "kv"];

/// Boots init with `guests` on the kernel behind `c`; `project_channels`
/// are the names and ids of the channels the project created. Answers
/// init's pid.
pub fn boot(c: &mut Client, userland: &Userland, guests: &[GuestUnit], project_channels: &[(String, u32)]) -> Result<u32, String> {
    let call_err = |what: &str, e: tidemark_shell::client::CallError| format!("{what}: {e}");
    // A board whose boot bundle holds a service has it already.
    let cached = c.call(req::Packages {}).map_err(|e| call_err("cannot read the package cache", e))?;
    for name in PACKAGES {
        let bytes = tidemark_guest_artifacts::get(name);
        let hash = tidemark_kernel::package::Hash::of(bytes).hex();
        if cached.packages.iter().any(|p| p.name == name && p.hash == hash) {
            continue;
        }
        c.call(req::Upload { name: name.into(), bytes: bytes.to_vec(), pin: true })
            .map_err(|e| call_err(&format!("cannot install the `{name}` service"), e))?;
    }
    let image = match &userland.image {
        Some(path) => Some(image::load(path)?),
        None => None,
    };
    let names: Vec<String> = project_channels.iter().map(|(n, _)| n.clone()).collect();
    let BootPlan { channels, init_grants, plan } = plan::build(userland, guests, &names, image.is_some());
    let mut ids: Vec<(String, u32)> = project_channels.to_vec();
    for ch in &channels {
        let backpressure = if ch.drop { Backpressure::Drop } else { Backpressure::Park };
        let info = c
            .call(req::CreateChannel { name: ch.name.clone(), data_bytes: ch.bytes, frames: ch.frames, backpressure, single: false })
            .map_err(|e| call_err(&format!("cannot create channel `{}`", ch.name), e))?;
        ids.push((ch.name.clone(), info.id));
    }
    let mut grants: Vec<GrantSpec> = init_grants
        .iter()
        .map(|name| {
            let id = ids.iter().find(|(n, _)| n == name).map(|(_, id)| *id).ok_or_else(|| format!("no channel `{name}` for init"))?;
            Ok(GrantSpec { name: name.clone(), object: ObjectRef::Channel(id.into()), rights: Rights::ALL })
        })
        .collect::<Result<_, String>>()?;
    if let Some(bytes) = image {
        let len = bytes.len();
        let id = c.call(req::CreateRegion { bytes }).map_err(|e| call_err(&format!("cannot make the {len}-byte image region"), e))?;
        grants.push(GrantSpec { name: IMAGE.into(), object: ObjectRef::Region(id), rights: Rights::ALL });
    }
    let args = postcard::to_allocvec(&plan).map_err(|e| format!("the boot plan: {e}"))?;
    c.call(req::Spawn { package: "init".into(), name: None, args, grants, memory_limit: None, record: false })
        .map_err(|e| call_err("cannot start init", e))
}
