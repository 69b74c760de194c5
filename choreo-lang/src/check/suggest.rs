//! "Did you mean": the closest known name by edit distance.

/// Edit distance between two strings, by characters: insertions, deletions,
/// substitutions and swaps of two neighbours each cost one (optimal string
/// alignment), so `gaurd` is one edit from `guard`.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    let at = |i: usize, j: usize| i * width + j;
    for i in 0..=a.len() {
        if let Some(c) = d.get_mut(at(i, 0)) {
            *c = i;
        }
    }
    for j in 0..=b.len() {
        if let Some(c) = d.get_mut(at(0, j)) {
            *c = j;
        }
    }
    let get =
        |d: &Vec<usize>, i: usize, j: usize| d.get(at(i, j)).copied().unwrap_or(usize::MAX / 2);
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let ca = a.get(i - 1);
            let cb = b.get(j - 1);
            let cost = usize::from(ca != cb);
            let mut best = (get(&d, i - 1, j) + 1)
                .min(get(&d, i, j - 1) + 1)
                .min(get(&d, i - 1, j - 1) + cost);
            if i > 1 && j > 1 && ca == b.get(j - 2) && a.get(i - 2) == cb {
                best = best.min(get(&d, i - 2, j - 2) + 1);
            }
            if let Some(c) = d.get_mut(at(i, j)) {
                *c = best;
            }
        }
    }
    get(&d, a.len(), b.len())
}

/// The candidate closest to `name`, if it is close enough to be a likely
/// typo: at most a third of the name's length (at least one edit), or the
/// same name in another case.
pub(crate) fn did_you_mean<'a, I>(name: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let limit = (name.chars().count() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        if candidate == name {
            continue;
        }
        let distance = if candidate.eq_ignore_ascii_case(name) {
            0
        } else {
            edit_distance(name, candidate)
        };
        // A one-letter name is one edit from every other one-letter name.
        let plausible = distance <= limit && distance < name.chars().count();
        if plausible && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c.to_string())
}

/// ` (did you mean `X`?)` or nothing, for the end of a label.
pub(crate) fn suffix(suggestion: Option<&str>) -> String {
    suggestion
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("Witness", "Witness"), 0);
        assert_eq!(edit_distance("Witnes", "Witness"), 1);
        assert_eq!(edit_distance("Wtiness", "Witness"), 1);
        assert_eq!(edit_distance("gaurd", "guard"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn did_you_mean_suggests_the_closest_typo() {
        let roles = ["Initiator", "Witness", "Coordinator"];
        assert_eq!(
            did_you_mean("Witnes", roles.iter().copied()).as_deref(),
            Some("Witness")
        );
        assert_eq!(
            did_you_mean("Initator", roles.iter().copied()).as_deref(),
            Some("Initiator")
        );
        assert_eq!(
            did_you_mean("witness", roles.iter().copied()).as_deref(),
            Some("Witness")
        );
    }

    #[test]
    fn did_you_mean_stays_quiet_for_unrelated_names() {
        let roles = ["Initiator", "Witness"];
        assert_eq!(did_you_mean("Bob", roles.iter().copied()), None);
        assert_eq!(did_you_mean("j", ["i", "k"].iter().copied()), None);
        assert_eq!(
            did_you_mean("gaurd", ["guard", "cost"].iter().copied()).as_deref(),
            Some("guard")
        );
    }
}
