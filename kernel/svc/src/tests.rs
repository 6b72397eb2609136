use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::fs::Kind;
use crate::fs::image::{self, ImageEntry};

#[test]
fn requests_round_trip_with_their_id() {
    let req = kv::Request::Set("a/b".into(), vec![1, 2, 3]);
    let frame = encode(Service::Kv, 7, &req);
    assert_eq!(decode::<kv::Request>(Service::Kv, &frame), (7, Ok(req)));
}

#[test]
fn a_frame_it_cannot_read_still_gets_an_answer_on_its_id() {
    let frame = encode(Service::Kv, 9, &kv::Request::Get("k".into()));
    assert!(matches!(decode::<kv::Request>(Service::Kv, &frame[..3]), (0, Err(SvcError::Malformed(_)))));
    assert!(matches!(
        decode::<kv::Request>(Service::Kv, &frame[..frame.len() - 1]),
        (9, Err(SvcError::Malformed(_)))
    ));
    let mut newer = frame.clone();
    newer[0] = 2;
    assert_eq!(decode::<kv::Request>(Service::Kv, &newer), (9, Err(SvcError::Version { got: 2, want: 1 })));
    assert_eq!(decode::<kv::Request>(Service::Bus, &frame), (9, Err(SvcError::WrongService(4))));
    // A length prefix claiming far more than the frame holds.
    let mut huge = frame[..Header::SIZE].to_vec();
    huge.extend_from_slice(&[1, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(matches!(decode::<kv::Request>(Service::Kv, &huge), (9, Err(SvcError::Malformed(_)))));
}

#[test]
fn a_restart_notice_reads_as_restarted() {
    let (id, r) = decode_reply::<kv::Answer>(Service::Kv, &restarted_notice(Service::Kv));
    assert_eq!((id, r), (RESTARTED_ID, Err(SvcError::Restarted)));
}

#[test]
fn patterns_match_by_level() {
    use pattern::{covers, matches, valid, valid_topic};
    assert!(matches("sensors/*/temp", "sensors/a/temp"));
    assert!(!matches("sensors/*/temp", "sensors/a/b/temp"));
    assert!(!matches("sensors/*/temp", "sensors/a"));
    assert!(matches("logs/#", "logs"));
    assert!(matches("logs/#", "logs/kv/error"));
    assert!(!matches("logs/#", "log"));
    assert!(matches("#", "anything/at/all"));
    assert!(valid("a/*/#") && !valid("a/#/b") && !valid("a//b") && !valid("a*") && !valid(""));
    assert!(valid_topic("a/b") && !valid_topic("a/*") && !valid_topic("a/"));
    assert!(covers("sensors/#", "sensors/*/temp"));
    assert!(covers("sensors/*/temp", "sensors/x/temp"));
    assert!(!covers("sensors/*/temp", "sensors/#"));
    assert!(!covers("sensors/x/temp", "sensors/*/temp"));
}

#[test]
fn paths_cannot_climb_out_of_their_root() {
    use fs::valid_relative;
    assert_eq!(valid_relative("/"), Some(vec![]));
    assert_eq!(valid_relative("a/b"), Some(vec!["a", "b"]));
    assert_eq!(valid_relative("/a/b"), Some(vec!["a", "b"]));
    for bad in ["..", "a/../b", "a//b", "./a", "a/", "//"] {
        assert_eq!(valid_relative(bad), None, "{bad}");
    }
    assert_eq!(valid_relative(&"a".repeat(fs::MAX_PATH + 1)), None);
}

fn sample() -> Vec<ImageEntry> {
    vec![
        ImageEntry { path: "etc".into(), kind: Kind::Dir, data: vec![] },
        ImageEntry { path: "etc/motd".into(), kind: Kind::File, data: b"hello\n".to_vec() },
        ImageEntry { path: "empty".into(), kind: Kind::File, data: vec![] },
    ]
}

#[test]
fn images_round_trip_in_path_order() {
    let b = image::encode(&sample());
    let mut want = sample();
    want.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(image::decode(&b).unwrap(), want);
}

#[test]
fn an_image_in_a_larger_buffer_knows_its_length() {
    let b = image::encode(&sample());
    let mut padded = b.clone();
    padded.resize(4096, 0);
    assert_eq!(image::len(&padded), Some(b.len()));
    assert_eq!(image::len(&b[..b.len() - 1]), None);
    assert_eq!(image::len(b"nope"), None);
}

#[test]
fn a_damaged_image_says_where() {
    let b = image::encode(&sample());
    assert_eq!(image::decode(&b[..b.len() - 1]).unwrap_err().why, "truncated file");
    let mut bad = b.clone();
    bad[0] = b'X';
    assert_eq!(image::decode(&bad).unwrap_err().why, "not a TMFS image");
    let mut extra = b.clone();
    extra.push(0);
    assert_eq!(image::decode(&extra).unwrap_err().why, "bytes after the last entry");
    let climbing = image::encode(&[ImageEntry { path: "../x".into(), kind: Kind::File, data: vec![] }]);
    assert_eq!(image::decode(&climbing).unwrap_err().why, "bad path");
}

proptest::proptest! {
    #[test]
    fn no_frame_or_image_makes_decoding_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
        let _ = decode::<kv::Request>(Service::Kv, &bytes);
        let _ = decode::<fs::Request>(Service::Fs, &bytes);
        let _ = decode::<bus::Request>(Service::Bus, &bytes);
        let _ = decode::<init::Request>(Service::Init, &bytes);
        let _ = image::decode(&bytes);
        let _: String = alloc::format!("{:?}", decode_reply::<kv::Answer>(Service::Kv, &bytes));
    }
}
