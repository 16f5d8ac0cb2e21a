//! Properties of the permessage-deflate negotiation (`wsock::handshake::deflate`,
//! RFC 7692 §5, §7.1): no input panics, a written offer parses back to
//! itself, and every response our server writes is accepted by our client
//! for the offer it answers, with the same agreement on both sides.

use proptest::prelude::*;
use wsock::handshake::deflate::{
    ClientMaxWindowBits, DeflateConfig, DeflateParams, check_response, extensions,
};

fn offer() -> impl Strategy<Value = DeflateParams> {
    (
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(None), (9u8..=15).prop_map(Some)],
        prop_oneof![
            Just(ClientMaxWindowBits::Absent),
            Just(ClientMaxWindowBits::Supported),
            (8u8..=15).prop_map(ClientMaxWindowBits::Bits)
        ],
    )
        .prop_map(|(s, c, sb, cb)| DeflateParams {
            server_no_context_takeover: s,
            client_no_context_takeover: c,
            server_max_window_bits: sb,
            client_max_window_bits: cb,
        })
}

fn config() -> impl Strategy<Value = DeflateConfig> {
    (any::<[bool; 5]>(), 0u8..=20, 0u8..=20).prop_map(|(b, s, c)| DeflateConfig {
        enabled: b[0],
        compress: b[1],
        server_max_window_bits: s,
        client_max_window_bits: c,
        server_no_context_takeover: b[2],
        client_no_context_takeover: b[3],
    })
}

/// Header-like text: the grammar's pieces in any order.
fn header_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("permessage-deflate".to_string()),
        Just("PerMessage-Deflate".to_string()),
        Just("server_no_context_takeover".to_string()),
        Just("client_no_context_takeover".to_string()),
        Just("server_max_window_bits".to_string()),
        Just("client_max_window_bits".to_string()),
        Just("x-webkit-deflate-frame".to_string()),
        "[;=,\" \t\\\\]",
        "[0-9]{1,3}",
        "[a-z_]{1,4}",
    ];
    prop::collection::vec(piece, 0..24).prop_map(|p| p.concat())
}

fn write_offer(offer: &DeflateParams) -> Vec<u8> {
    let mut out = [0u8; 256];
    let n = offer
        .write_offer(&mut out)
        .expect("a valid offer is written");
    out[..n].to_vec()
}

/// Everything the module offers, run on `values`; must not panic.
fn exercise(config: &DeflateConfig, offer: &DeflateParams, values: &[&[u8]]) {
    for v in values {
        for ext in extensions(v).flatten() {
            let _ = ext.params().count();
            let _ = DeflateParams::parse(&ext);
        }
    }
    let mut out = [0u8; 256];
    if let Some((agreed, n)) = config
        .negotiate(values.iter().copied(), &mut out)
        .expect("256 bytes hold any response")
    {
        // Whatever offer was chosen, the response is valid syntax with one
        // permessage-deflate and sane window bits.
        let exts: Vec<_> = extensions(&out[..n]).collect();
        assert_eq!(exts.len(), 1);
        assert!((8..=15).contains(&agreed.server_max_window_bits));
        assert!((8..=15).contains(&agreed.client_max_window_bits));
    }
    if let Ok(Some(agreed)) = check_response(offer, values.iter().copied()) {
        if let Some(asked) = offer.server_max_window_bits {
            assert!(agreed.server_max_window_bits <= asked);
        }
        if offer.server_no_context_takeover {
            assert!(agreed.server_no_context_takeover);
        }
        if let ClientMaxWindowBits::Bits(ours) = offer.client_max_window_bits {
            assert!(agreed.client_max_window_bits <= ours);
        }
    }
}

proptest! {
    /// No bytes make any entry point panic.
    #[test]
    fn any_bytes_never_panic(
        values in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..80), 0..4),
        config in config(),
        offer in offer(),
    ) {
        let values: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        exercise(&config, &offer, &values);
    }

    /// Nor does header-like text (which reaches deeper than random bytes).
    #[test]
    fn header_text_never_panics(a in header_text(), b in header_text(), config in config(), offer in offer()) {
        exercise(&config, &offer, &[a.as_bytes(), b.as_bytes()]);
    }

    /// A written offer parses back to itself.
    #[test]
    fn written_offer_parses_back(offer in offer()) {
        let text = write_offer(&offer);
        let exts: Vec<_> = extensions(&text).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(exts.len(), 1);
        prop_assert!(exts[0].is_permessage_deflate());
        prop_assert_eq!(DeflateParams::parse(&exts[0]), Ok(offer));
    }

    /// Our client accepts every response our server writes to its offer,
    /// and both derive the same agreement. With a 15-bit client window
    /// the server declines no valid offer.
    #[test]
    fn written_response_is_accepted(offer in offer(), config in config(), other in "[a-z]{1,8}") {
        let text = write_offer(&offer);
        let values: [&[u8]; 2] = [other.as_bytes(), &text];
        let mut out = [0u8; 256];
        let chosen = config.negotiate(values, &mut out).unwrap();
        let takes_any = config.enabled && config.client_max_window_bits >= 15;
        prop_assert!(chosen.is_some() || !takes_any, "declined {:?}", offer);
        if let Some((agreed, n)) = chosen {
            prop_assert_eq!(check_response(&offer, [&out[..n]]), Ok(Some(agreed)));
            if !config.compress {
                prop_assert_eq!(agreed.server_max_window_bits, offer.server_max_window_bits.unwrap_or(15));
            }
        }
    }
}
