//! IMAP sequence-set strings ("1:5,7,9:12") from UID lists, and batching.

/// Compresses UIDs (any order, duplicates allowed) into an IMAP sequence set.
pub fn encode(uids: &[u32]) -> String {
    let mut sorted: Vec<u32> = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// Expands `ranges` such as VANISHED reports them.
pub fn expand(ranges: &[std::ops::RangeInclusive<u32>]) -> Vec<u32> {
    ranges.iter().flat_map(|r| r.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_ranges() {
        assert_eq!(encode(&[]), "");
        assert_eq!(encode(&[7]), "7");
        assert_eq!(encode(&[5, 1, 2, 3, 7, 9, 10, 11, 3]), "1:3,5,7,9:11");
        assert_eq!(
            encode(&[u32::MAX, u32::MAX - 1]),
            format!("{}:{}", u32::MAX - 1, u32::MAX)
        );
    }

    #[test]
    fn expands_ranges() {
        assert_eq!(expand(&[1..=3, 7..=7]), vec![1, 2, 3, 7]);
    }
}
