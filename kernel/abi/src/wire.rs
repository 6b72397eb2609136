//! Fixed-layout structures written into guest memory by hostcalls.
//!
//! Every field is a little-endian `u32`, so the layouts are the same on
//! every engine and need no alignment from the guest.

/// A structure with a fixed little-endian layout of `u32` words.
pub trait Wire: Sized {
    /// Number of `u32` words.
    const WORDS: usize;
    /// Size in bytes.
    const SIZE: usize = Self::WORDS * 4;
    /// Writes the words in order.
    fn words(&self, out: &mut [u32]);
    /// Reads the words back.
    fn from_words(w: &[u32]) -> Self;

    /// Encodes into `out[..Self::SIZE]`.
    fn encode(&self, out: &mut [u8]) {
        let mut w = [0u32; 16];
        self.words(&mut w[..Self::WORDS]);
        for (i, v) in w[..Self::WORDS].iter().enumerate() {
            out[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
    }
    /// Decodes from `b[..Self::SIZE]`.
    fn decode(b: &[u8]) -> Self {
        let mut w = [0u32; 16];
        for (i, v) in w[..Self::WORDS].iter_mut().enumerate() {
            *v = u32::from_le_bytes([b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]]);
        }
        Self::from_words(&w[..Self::WORDS])
    }
}

macro_rules! wire_struct {
    ($(#[$m:meta])* $name:ident { $( $(#[doc = $d:literal])* $f:ident ),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name { $( $(#[doc = $d])* pub $f: u32 ),* }
        impl Wire for $name {
            const WORDS: usize = [$(stringify!($f)),*].len();
            fn words(&self, out: &mut [u32]) {
                let v = [$(self.$f),*];
                out.copy_from_slice(&v);
            }
            fn from_words(w: &[u32]) -> Self {
                let mut i = 0;
                $( let $f = w[i]; i += 1; )*
                let _ = i;
                $name { $($f),* }
            }
        }
    };
}

wire_struct! {
    /// A region of an arena, as seen by a process that attached it.
    ShmRegion {
        /// Arena id.
        arena,
        /// Offset of the region inside the arena.
        offset,
        /// Length in bytes.
        len,
        /// Address of the region inside the caller's linear memory when it is mapped there (zero-copy path), else 0.
        mapped_at,
    }
}

wire_struct! {
    /// The board's framebuffer, as `display_info` describes it.
    DisplayInfo {
        /// Pixels per row.
        width,
        /// Rows.
        height,
        /// Bytes from one row to the next.
        stride,
        /// Pixel format ([`crate::display_format`]).
        format,
        /// Presents so far.
        presents,
    }
}

wire_struct! {
    /// What `chan_attach` tells the attaching process.
    ChannelDescriptor {
        /// Kernel-wide channel id.
        channel,
        /// The role attached as (1 reader, 2 writer).
        role,
        /// Reader slot or writer id inside the ring.
        endpoint,
        /// Arena holding the ring.
        arena,
        /// Offset of the ring in the arena.
        offset,
        /// Length of the ring region.
        len,
        /// Address of the ring in the caller's linear memory when mapped (zero-copy path), else 0.
        mapped_at,
        /// Backpressure (0 park, 1 drop).
        backpressure,
        /// Data ring bytes: with the three fields after it, the ring's geometry as the kernel created it (a guest running the ring in place trusts these, never the ring's header).
        data_cap,
        /// Frame ring slots.
        frame_cap,
        /// Reader cursor slots.
        max_readers,
        /// Writer slots.
        max_writers,
    }
}

wire_struct! {
    /// Per-frame metadata returned by `chan_read`.
    FrameMeta {
        /// Writer id that wrote the frame.
        writer,
        /// Frame sequence number in the channel.
        seq,
        /// Frame length (also set when `TooLarge` is returned).
        len,
        /// Pid of the writing process (0 for the kernel/monitor).
        pid,
    }
}

wire_struct! {
    /// What `cap_info` tells about a handle.
    CapInfo {
        /// `ObjectKind`.
        kind,
        /// `Rights` bits.
        rights,
        /// Kernel-wide object id (channel or region id).
        object,
        /// The handle's generation.
        generation,
    }
}

wire_struct! {
    /// What the kernel writes, as one frame, on a parent's watch channel
    /// (`proc_watch`) when one of its children ends.
    ChildExit {
        /// The child's pid.
        pid,
        /// How it ended: 0 exited (`code` holds its code), 1 trapped, 2 killed, 3 failed to start.
        kind,
        /// The exit code when `kind` is 0 (two's complement), else 0.
        code,
    }
}

impl ChildExit {
    /// `kind`: the child returned or called `proc_exit`.
    pub const EXITED: u32 = 0;
    /// `kind`: the child trapped.
    pub const TRAPPED: u32 = 1;
    /// `kind`: the child was killed.
    pub const KILLED: u32 = 2;
    /// `kind`: the child could not start (instantiation failed).
    pub const FAILED: u32 = 3;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_round_trips() {
        let d = ChannelDescriptor {
            channel: 7,
            role: 2,
            endpoint: 3,
            arena: 1,
            offset: 4096,
            len: 65536,
            mapped_at: 0,
            backpressure: 1,
            data_cap: 4096,
            frame_cap: 64,
            max_readers: 16,
            max_writers: 16,
        };
        let mut b = [0u8; 48];
        assert_eq!(ChannelDescriptor::SIZE, 48);
        d.encode(&mut b);
        assert_eq!(&b[..4], &7u32.to_le_bytes());
        assert_eq!(ChannelDescriptor::decode(&b), d);
    }

    #[test]
    fn handles_pack_non_negative_and_reject_forgeries() {
        let h = crate::Handle {
            index: 0xFFFF,
            generation: crate::Handle::MAX_GENERATION,
        };
        assert!(h.to_raw() >= 0);
        assert_eq!(crate::Handle::from_raw(h.to_raw()), Some(h));
        assert_eq!(crate::Handle::from_raw(-5), None);
        assert_eq!(
            crate::Handle::from_raw(12),
            None,
            "generation 0 is never minted"
        );
    }
}
