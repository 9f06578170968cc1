//! Pseudonymous display names for our own identity: two words and two digits
//! (`"amber-heron-42"`), drawn from small built-in lists with uniform probability.
//!
//! The name is unrelated to the OS user name, the host name or anything else about the machine:
//! it is made only from the injected random source. 64 × 64 × 100 = 409 600 names: enough that two
//! people in one conversation rarely share one, few enough to read aloud. It is not a secret and
//! not an identifier (the ZID is); it only helps humans tell contacts apart.

use sotto_proto::crypto::Random;

/// 64 adjectives (a power of two, so a random byte masked to 6 bits picks one uniformly).
const ADJECTIVES: [&str; 64] = [
    "amber", "ancient", "autumn", "bold", "brave", "bright", "brisk", "calm", "clever", "copper",
    "coral", "crimson", "crisp", "dawn", "deep", "distant", "dusty", "eager", "early", "east",
    "fair", "gentle", "golden", "grand", "green", "hidden", "hollow", "humble", "icy", "indigo",
    "ivory", "jade", "keen", "late", "lively", "lucky", "lunar", "mellow", "misty", "modest",
    "north", "olive", "patient", "plain", "proud", "quiet", "rapid", "rustic", "silent", "silver",
    "simple", "sleepy", "snowy", "solar", "south", "steady", "stormy", "sunny", "swift", "tidal",
    "velvet", "west", "wild", "windy",
];

/// 64 nouns.
const NOUNS: [&str; 64] = [
    "badger", "beacon", "birch", "bison", "brook", "canyon", "cedar", "cliff", "cloud", "comet",
    "crane", "delta", "dune", "eagle", "ember", "falcon", "fern", "fjord", "fox", "garden",
    "glacier", "grove", "harbor", "hawk", "heron", "hill", "island", "kestrel", "lagoon", "lake",
    "lantern", "lark", "maple", "meadow", "mesa", "moose", "moth", "oak", "orchid", "otter", "owl",
    "pebble", "pine", "plover", "prairie", "quartz", "raven", "reef", "ridge", "river", "robin",
    "sparrow", "spruce", "stone", "summit", "swan", "thistle", "tundra", "valley", "walrus",
    "willow", "wolf", "wren", "yak",
];

/// Draws a new pseudonymous display name from `rng`.
pub(crate) fn random_display_name(rng: &mut dyn Random) -> String {
    let mut b = [0u8; 2];
    rng.fill(&mut b);
    let adjective = ADJECTIVES
        .get(usize::from(b[0] & 63))
        .copied()
        .unwrap_or("quiet");
    let noun = NOUNS.get(usize::from(b[1] & 63)).copied().unwrap_or("owl");
    // Rejection sampling: only bytes below 200 map uniformly onto 0..100.
    let number = loop {
        let mut d = [0u8; 1];
        rng.fill(&mut d);
        if d[0] < 200 {
            break d[0] % 100;
        }
    };
    format!("{adjective}-{noun}-{number:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// A deterministic stand-in for the OS source: a counter run through a simple mixer.
    struct Counter(u64);
    impl Random for Counter {
        fn fill(&mut self, buf: &mut [u8]) {
            for b in buf {
                self.0 = self
                    .0
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                *b = (self.0 >> 56) as u8;
            }
        }
    }

    #[test]
    fn word_lists_are_distinct_lowercase_words() {
        let mut seen = HashSet::new();
        for w in ADJECTIVES.iter().chain(NOUNS.iter()) {
            assert!(seen.insert(*w), "duplicate word {w}");
            assert!(w.chars().all(|c| c.is_ascii_lowercase()), "{w}");
        }
        assert_eq!(seen.len(), 128);
    }

    #[test]
    fn names_have_the_documented_shape_and_vary() {
        let mut rng = Counter(7);
        let mut names = HashSet::new();
        for _ in 0..200 {
            let n = random_display_name(&mut rng);
            let parts: Vec<&str> = n.split('-').collect();
            assert_eq!(parts.len(), 3, "{n}");
            assert!(ADJECTIVES.contains(&parts[0]));
            assert!(NOUNS.contains(&parts[1]));
            assert_eq!(parts[2].len(), 2);
            assert!(parts[2].chars().all(|c| c.is_ascii_digit()));
            names.insert(n);
        }
        // 200 draws from 409 600 names: collisions are possible but a handful at most.
        assert!(names.len() > 190, "{}", names.len());
    }
}
