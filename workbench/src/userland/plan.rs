//! From `[services]` and the guests' `uses` to what the kernel gets at
//! boot: the channels of every connection, the image, and init's plan
//! with each unit's grants. A pure function, so what each guest may reach
//! is tested without a kernel.

use tidemark_abi::Rights;
use tidemark_svc::init::{Conn, Grant, Plan, ServiceArgs, Unit};
use tidemark_svc::{MONITOR, SCREEN, Service, channel_name};

use super::{Userland, Uses};

/// A channel to create before init starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelPlan {
    /// Its kernel-wide name (also its grant name in init's table).
    pub name: String,
    /// Payload bytes.
    pub bytes: u32,
    /// Frames.
    pub frames: u32,
    /// Drop instead of Park backpressure.
    pub drop: bool,
}

/// A project guest init starts (after the services it uses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestUnit {
    /// Process name (also its client name at the services).
    pub name: String,
    /// Package (name or hash) to run.
    pub package: String,
    /// Its project capabilities: grant name, channel name, rights.
    pub caps: Vec<(String, String, Rights)>,
    /// Arguments.
    pub args: Vec<u8>,
    /// What it may reach through the services.
    pub uses: Uses,
}

/// Everything the workbench hands the kernel to boot the userland.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootPlan {
    /// Connection channels to create (project channels exist already).
    pub channels: Vec<ChannelPlan>,
    /// Channels init is granted (with every right), by name.
    pub init_grants: Vec<String>,
    /// The plan init runs.
    pub plan: Plan,
}

/// The name init and vfs know the image region by.
pub const IMAGE: &str = "vfs.image";
/// Where kv keeps its log in vfs.
pub const KV_DIR: &str = "/var/kv";

const SERVICES: [Service; 3] = [Service::Fs, Service::Kv, Service::Bus];

/// One connection, as both ends and init see it.
struct Link {
    service: Service,
    client: String,
    scope: String,
    write: bool,
}

impl Link {
    fn chan(&self, end: &str) -> String {
        channel_name(self.service, &self.client, end)
    }
}

fn rights(r: Rights) -> u32 {
    r.0
}

/// Builds the boot plan of `userland` with `guests`; `project_channels`
/// are the project's own channels (created already), which init also
/// holds to hand the guests their `caps`.
pub fn build(userland: &Userland, guests: &[GuestUnit], project_channels: &[String], has_image: bool) -> BootPlan {
    let mut links: Vec<Link> = Vec::new();
    for service in SERVICES {
        let (scope, write) = match service {
            Service::Bus => ("pub:#,sub:#".to_string(), true),
            Service::Kv => (String::new(), true),
            _ => ("/".to_string(), true),
        };
        links.push(Link { service, client: MONITOR.into(), scope, write });
    }
    links.push(Link { service: Service::Fs, client: "kv".into(), scope: KV_DIR.into(), write: true });
    for g in guests {
        if let Some((prefix, write)) = &g.uses.kv {
            links.push(Link { service: Service::Kv, client: g.name.clone(), scope: prefix.clone(), write: *write });
        }
        if let Some((root, write)) = &g.uses.fs {
            links.push(Link { service: Service::Fs, client: g.name.clone(), scope: root.clone(), write: *write });
        }
        if let Some((publish, subscribe)) = &g.uses.bus {
            let scope: Vec<String> = publish.iter().map(|p| format!("pub:{p}")).chain(subscribe.iter().map(|p| format!("sub:{p}"))).collect();
            links.push(Link { service: Service::Bus, client: g.name.clone(), scope: scope.join(","), write: true });
        }
    }

    let frame = tidemark_svc::MAX_FRAME as u32;
    let mut channels = Vec::new();
    for l in &links {
        // Requests park a client that outruns its service (it hurts only
        // itself); replies and deliveries never park the service.
        channels.push(ChannelPlan { name: l.chan("req"), bytes: frame, frames: 16, drop: false });
        channels.push(ChannelPlan { name: l.chan("resp"), bytes: frame, frames: 16, drop: true });
        if l.service == Service::Bus {
            channels.push(ChannelPlan { name: l.chan("deliver"), bytes: 2 * frame, frames: 64, drop: true });
        }
    }
    for client in [MONITOR, SCREEN] {
        for end in ["req", "resp"] {
            channels.push(ChannelPlan { name: channel_name(Service::Init, client, end), bytes: frame, frames: 8, drop: end == "resp" });
        }
    }

    let mut units = Vec::new();
    for service in SERVICES {
        let mine: Vec<&Link> = links.iter().filter(|l| l.service == service).collect();
        let mut grants = Vec::new();
        let mut conns = Vec::new();
        for l in &mine {
            grants.push(Grant { cap: l.chan("req"), rights: rights(Rights::READ), name: l.chan("req") });
            grants.push(Grant { cap: l.chan("resp"), rights: rights(Rights::WRITE), name: l.chan("resp") });
            let deliver = (service == Service::Bus).then(|| l.chan("deliver"));
            if let Some(d) = &deliver {
                grants.push(Grant { cap: d.clone(), rights: rights(Rights::WRITE), name: d.clone() });
            }
            conns.push(Conn { client: l.client.clone(), req: l.chan("req"), resp: l.chan("resp"), scope: l.scope.clone(), write: l.write, deliver });
        }
        let mut settings = Vec::new();
        let mut after = Vec::new();
        match service {
            Service::Fs if has_image => {
                grants.push(Grant { cap: IMAGE.into(), rights: rights(Rights::READ), name: IMAGE.into() });
                settings.push(("image".to_string(), IMAGE.to_string()));
            }
            Service::Kv => {
                client_grants(&mut grants, Service::Fs, "kv");
                settings.push(("fs".to_string(), "fs".to_string()));
                after.push(Service::Fs.name().to_string());
            }
            _ => {}
        }
        let args = ServiceArgs { conns, settings };
        units.push(Unit {
            name: service.name().into(),
            package: service.name().into(),
            after,
            restart: true,
            service: Some(service),
            grants,
            notify: mine.iter().map(|l| l.chan("resp")).collect(),
            args: postcard::to_allocvec(&args).expect("serializable"),
        });
    }
    for g in guests {
        let mut grants: Vec<Grant> = g
            .caps
            .iter()
            .map(|(name, chan, r)| Grant { cap: chan.clone(), rights: rights(*r), name: name.clone() })
            .collect();
        let mut after = Vec::new();
        for (service, used) in [(Service::Kv, g.uses.kv.is_some()), (Service::Fs, g.uses.fs.is_some()), (Service::Bus, g.uses.bus.is_some())] {
            if used {
                client_grants(&mut grants, service, &g.name);
                after.push(service.name().to_string());
            }
        }
        units.push(Unit {
            name: g.name.clone(),
            package: g.package.clone(),
            after,
            restart: false,
            service: None,
            grants,
            notify: Vec::new(),
            args: g.args.clone(),
        });
    }
    let mut init_grants: Vec<String> = channels.iter().map(|c| c.name.clone()).collect();
    init_grants.extend(project_channels.iter().cloned());
    BootPlan { channels, init_grants, plan: Plan { units, restart: userland.restart } }
}

/// A client's side of its connection to `service`: requests written,
/// replies (and the bus's deliveries) read, under the names the SDK's
/// clients look up (`kv.req`, `fs.resp`, `bus.deliver`, ...).
fn client_grants(grants: &mut Vec<Grant>, service: Service, client: &str) {
    let short = match service {
        Service::Fs => "fs",
        other => other.name(),
    };
    let mut add = |end: &str, r: Rights| {
        grants.push(Grant { cap: channel_name(service, client, end), rights: rights(r), name: format!("{short}.{end}") });
    };
    add("req", Rights::WRITE);
    add("resp", Rights::READ);
    if service == Service::Bus {
        add("deliver", Rights::READ);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> GuestUnit {
        GuestUnit {
            name: "app".into(),
            package: "app".into(),
            caps: vec![("out".into(), "events".into(), Rights::WRITE)],
            args: vec![],
            uses: Uses {
                kv: Some(("app/".into(), true)),
                fs: None,
                bus: Some((vec!["sensors/#".into()], vec![])),
            },
        }
    }

    #[test]
    fn a_guest_gets_only_the_connections_it_uses() {
        let b = build(&Userland::default(), &[app()], &["events".into()], false);
        let unit = b.plan.units.iter().find(|u| u.name == "app").unwrap();
        let names: Vec<&str> = unit.grants.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["out", "kv.req", "kv.resp", "bus.req", "bus.resp", "bus.deliver"]);
        assert_eq!(unit.after, ["kv", "bus"]);
        assert!(!unit.restart);
        // Its requests are write-only for it, its replies read-only.
        let req = unit.grants.iter().find(|g| g.name == "kv.req").unwrap();
        assert_eq!((req.cap.as_str(), req.rights), ("kv.app.req", Rights::WRITE.0));
    }

    #[test]
    fn each_service_serves_the_monitor_and_its_clients_with_their_scopes() {
        let b = build(&Userland::default(), &[app()], &[], false);
        let args = |name: &str| -> ServiceArgs {
            let u = b.plan.units.iter().find(|u| u.name == name).unwrap();
            postcard::from_bytes(&u.args).unwrap()
        };
        let kv = args("kv");
        let clients: Vec<(&str, &str)> = kv.conns.iter().map(|c| (c.client.as_str(), c.scope.as_str())).collect();
        assert_eq!(clients, [("monitor", ""), ("app", "app/")]);
        assert_eq!(kv.setting("fs"), Some("fs"));
        let bus = args("bus");
        assert_eq!(bus.conns[1].scope, "pub:sensors/#");
        assert_eq!(bus.conns[1].deliver.as_deref(), Some("bus.app.deliver"));
        let vfs = args("vfs");
        assert_eq!(vfs.conns.iter().map(|c| c.client.as_str()).collect::<Vec<_>>(), ["monitor", "kv"]);
        // kv reaches vfs as a client, after it.
        let kv_unit = b.plan.units.iter().find(|u| u.name == "kv").unwrap();
        assert_eq!(kv_unit.after, ["vfs"]);
        assert!(kv_unit.grants.iter().any(|g| g.name == "fs.req" && g.cap == "vfs.kv.req"));
    }

    #[test]
    fn init_holds_every_channel_it_hands_out() {
        let b = build(&Userland::default(), &[app()], &["events".into()], true);
        for u in &b.plan.units {
            for g in &u.grants {
                assert!(g.cap == IMAGE || b.init_grants.contains(&g.cap), "{} is not init's", g.cap);
            }
        }
        let vfs = b.plan.units.iter().find(|u| u.name == "vfs").unwrap();
        assert!(vfs.grants.iter().any(|g| g.cap == IMAGE));
    }
}
