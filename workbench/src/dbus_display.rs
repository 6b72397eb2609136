//! QEMU's D-Bus display (cargo feature `qemu-display`): the workbench
//! attaches to the display QEMU exports (`-display dbus,p2p=yes`) as a
//! listener of its first console, and keeps the picture QEMU pushes at
//! every scan-out and update. `screenshot --scanout` and the screen's
//! display pane then read QEMU's own picture without asking anyone.
//!
//! Peer to peer, no bus: a socket pair, one end handed to QEMU over QMP
//! (`getfd` with the descriptor attached, then `add_client
//! @dbus-display`), the other the D-Bus connection the `qemu-display`
//! crate speaks.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qemu_display::{
    Console, ConsoleListenerHandler, Cursor, Display, MouseSet, Scanout, ScanoutDMABUF, Update,
    UpdateDMABUF,
};
use tidemark_shell::picture::Picture;

/// pixman's `x8r8g8b8` (and `a8r8g8b8`): one little-endian `u32` a pixel,
/// `0x00RRGGBB`; what QEMU's virtio-gpu gives for the kernel's format.
const PIXMAN_X8R8G8B8: u32 = 0x2002_0888;
const PIXMAN_A8R8G8B8: u32 = 0x2002_8888;

/// QEMU's display as last pushed: the scan-out, with every update since.
#[derive(Default)]
struct Surface {
    width: u32,
    height: u32,
    stride: u32,
    format: u32,
    data: Vec<u8>,
    /// Scan-outs and updates received.
    pushes: u64,
    /// Why it is not usable (a format this reads not, a disconnection).
    trouble: Option<String>,
}

impl Surface {
    fn picture(&self) -> Result<Picture, String> {
        if let Some(t) = &self.trouble {
            return Err(t.clone());
        }
        if self.pushes == 0 {
            return Err("QEMU's display has shown nothing yet".into());
        }
        Picture::from_xrgb(self.width, self.height, self.stride, &self.data)
    }
}

struct Listener(Arc<Mutex<Surface>>);

/// The surface, even after a panic elsewhere left its lock poisoned.
fn lock(s: &Mutex<Surface>) -> std::sync::MutexGuard<'_, Surface> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

fn readable(format: u32) -> bool {
    format == PIXMAN_X8R8G8B8 || format == PIXMAN_A8R8G8B8
}

#[async_trait::async_trait]
impl ConsoleListenerHandler for Listener {
    async fn scanout(&mut self, s: Scanout) {
        let mut surface = lock(&self.0);
        surface.trouble = if readable(s.format) {
            Picture::xrgb_bytes(s.width, s.height, s.stride)
                .err()
                .map(|e| format!("QEMU's display: {e}"))
        } else {
            Some(format!(
                "QEMU's display uses pixman format {:#x}, not x8r8g8b8",
                s.format
            ))
        };
        surface.width = s.width;
        surface.height = s.height;
        surface.stride = s.stride;
        surface.format = s.format;
        surface.data = s.data;
        surface.pushes += 1;
    }

    async fn update(&mut self, u: Update) {
        let mut surface = lock(&self.0);
        if u.format != surface.format || u.x < 0 || u.y < 0 {
            return;
        }
        // Clipped to the picture: a rectangle past its edge would spill
        // into the next row.
        let (x, y) = (u.x as usize, u.y as usize);
        let w = (u.w.max(0) as usize).min((surface.width as usize).saturating_sub(x));
        let h = (u.h.max(0) as usize).min((surface.height as usize).saturating_sub(y));
        let stride = surface.stride as usize;
        for row in 0..h {
            let (from, to) = (row * u.stride as usize, (y + row) * stride + x * 4);
            let (Some(src), Some(dst)) = (
                u.data.get(from..from + w * 4),
                surface.data.get_mut(to..to + w * 4),
            ) else {
                break;
            };
            dst.copy_from_slice(src);
        }
        surface.pushes += 1;
    }

    async fn scanout_dmabuf(&mut self, _s: ScanoutDMABUF) {
        lock(&self.0).trouble = Some(
            "QEMU's display went to a DMA-BUF (a GL display), which this does not read".into(),
        );
    }

    async fn update_dmabuf(&mut self, _u: UpdateDMABUF) {}

    async fn disable(&mut self) {}

    async fn mouse_set(&mut self, _set: MouseSet) {}

    async fn cursor_define(&mut self, _cursor: Cursor) {}

    fn disconnected(&mut self) {
        lock(&self.0).trouble = Some("QEMU's display went away".into());
    }

    fn interfaces(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The workbench attached to a QEMU's display: what it pushed last.
#[derive(Clone)]
pub struct LiveDisplay {
    surface: Arc<Mutex<Surface>>,
}

impl LiveDisplay {
    /// Attaches to the D-Bus display of the QEMU whose QMP socket is `qmp`.
    /// The connection runs on its own thread for as long as QEMU does.
    pub fn attach(qmp: &Path) -> Result<LiveDisplay, String> {
        let (ours, theirs) = UnixStream::pair().map_err(|e| e.to_string())?;
        let mut q = crate::qmp::Qmp::connect(qmp)?;
        q.send_fd("tidemark-display", &theirs)?;
        q.execute(
            "add_client",
            serde_json::json!({ "protocol": "@dbus-display", "fdname": "tidemark-display" }),
        )?;
        drop(theirs);
        let surface = Arc::new(Mutex::new(Surface::default()));
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let listener = Listener(surface.clone());
        std::thread::Builder::new()
            .name("qemu-display".into())
            .spawn(move || {
                qemu_display::zbus::block_on(async move {
                    let attached = async {
                        let conn =
                            qemu_display::zbus::connection::Builder::async_io_unix_stream(ours)
                                .p2p()
                                .build()
                                .await?;
                        let _display = Display::new::<()>(&conn, None).await?;
                        let console = Console::new(&conn, 0).await?;
                        console.register_listener(listener).await?;
                        Ok::<_, qemu_display::Error>((conn, console))
                    }
                    .await;
                    match attached {
                        Ok(keep) => {
                            let _ = ready_tx.send(Ok(()));
                            // The connections serve the listener from zbus's
                            // own executor; this thread keeps them alive.
                            let _keep = keep;
                            std::future::pending::<()>().await;
                        }
                        Err(e) => {
                            let _ = ready_tx
                                .send(Err(format!("attaching to QEMU's D-Bus display: {e}")));
                        }
                    }
                })
            })
            .map_err(|e| e.to_string())?;
        ready
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| "QEMU's D-Bus display did not answer within 10 s".to_string())??;
        Ok(LiveDisplay { surface })
    }

    /// What QEMU showed last; waits up to `within` for a first picture.
    pub fn picture(&self, within: Duration) -> Result<Picture, String> {
        let until = Instant::now() + within;
        loop {
            let p = lock(&self.surface).picture();
            if p.is_ok() || Instant::now() >= until {
                return p;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
