//! Stable, short, non-reversible fingerprints (FNV-1a, 64 bit): for campaign definitions, and
//! for tokens wherever one must be told apart without being stored (the simulator's ledger,
//! token stops).

pub fn fnv1a64(data: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in data {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// `fp:` and 8 hex digits: enough to tell tokens apart, too little to recover one.
pub fn token(token: &str) -> String {
    format!("fp:{:08x}", fnv1a64(token.as_bytes()) >> 32)
}

#[cfg(test)]
mod tests {
    #[test]
    fn token_fingerprints_are_stable_and_do_not_contain_the_token() {
        let fp = super::token("2730b3490cf32a1c16ac8b91e034aa9f073996f7");
        assert_eq!(fp, super::token("2730b3490cf32a1c16ac8b91e034aa9f073996f7"));
        assert_eq!(fp.len(), 11);
        assert_ne!(fp, super::token("another"));
    }
}
