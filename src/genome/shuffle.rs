//! Dinucleotide shuffles (Altschul & Erickson 1985): a random sequence with exactly the same
//! dinucleotide counts (hence base counts, first and last base) as the input: the references of
//! integrated gradients and the null of motif enrichment, as MEME's fasta-shuffle-letters -kmer 2.

use crate::rng::SplitMix64;

/// A dinucleotide-preserving shuffle of `seq` (bytes compared as they are; upper-case first if
/// case should not matter). Sequences under 3 bases come back unchanged.
pub fn dinucleotide_shuffle(seq: &[u8], rng: &mut SplitMix64) -> Vec<u8> {
    if seq.len() < 3 {
        return seq.to_vec();
    }
    // Each base's successors, in sequence order: the edges of the Eulerian walk.
    let mut edges: Vec<Vec<u8>> = vec![Vec::new(); 256];
    for w in seq.windows(2) {
        edges[w[0] as usize].push(w[1]);
    }
    let last = *seq.last().unwrap_or(&0);
    let vertices: Vec<usize> = (0..256)
        .filter(|&v| !edges[v].is_empty() && v != last as usize)
        .collect();
    // A random last exit per vertex, redrawn until they all lead to the sequence's last base (a
    // tree rooted there): then the walk below uses every edge and ends at that base.
    let mut exit = [0usize; 256];
    loop {
        for &v in &vertices {
            exit[v] = rng.below(edges[v].len() as u64) as usize;
        }
        let reaches_last = |start: usize| {
            let mut v = start;
            for _ in 0..=vertices.len() {
                if v == last as usize {
                    return true;
                }
                v = edges[v][exit[v]] as usize;
            }
            false
        };
        if vertices.iter().all(|&v| reaches_last(v)) {
            break;
        }
    }
    for &v in &vertices {
        let e = &mut edges[v];
        let n = e.len() - 1;
        e.swap(exit[v], n);
        rng.shuffle(&mut e[..n]);
    }
    if !edges[last as usize].is_empty() {
        rng.shuffle(&mut edges[last as usize]);
    }
    let mut next = [0usize; 256];
    let mut out = Vec::with_capacity(seq.len());
    let mut v = seq[0];
    out.push(v);
    while out.len() < seq.len() {
        let from = v as usize;
        v = edges[from][next[from]];
        next[from] += 1;
        out.push(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dinucleotides(s: &[u8]) -> std::collections::BTreeMap<(u8, u8), usize> {
        let mut m = std::collections::BTreeMap::new();
        for w in s.windows(2) {
            *m.entry((w[0], w[1])).or_insert(0) += 1;
        }
        m
    }

    #[test]
    fn test_shuffles_keep_dinucleotide_counts_and_ends() {
        let seq = b"ACGTTGCAAACGTTTGGGCCATATATCGCGNNACGT";
        let mut rng = SplitMix64::new(7);
        let mut differ = 0;
        for _ in 0..50 {
            let s = dinucleotide_shuffle(seq, &mut rng);
            assert_eq!(s.len(), seq.len());
            assert_eq!(dinucleotides(&s), dinucleotides(seq));
            assert_eq!((s[0], s[s.len() - 1]), (seq[0], seq[seq.len() - 1]));
            differ += usize::from(s != seq);
        }
        assert!(
            differ > 40,
            "shuffles mostly differ from the input: {differ}"
        );
        assert_eq!(dinucleotide_shuffle(b"AC", &mut rng), b"AC");
        let same = dinucleotide_shuffle(b"AAAAAA", &mut rng);
        assert_eq!(same, b"AAAAAA");
    }
}
