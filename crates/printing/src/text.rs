//! Column arithmetic: wrapping and two/three-column rows. Every function returns lines no
//! wider than the width it is given; a word longer than the width is cut and continued on the
//! next line, so nothing is ever lost off the edge of the paper.

/// Wraps `text` on spaces into lines of at most `width` characters; longer words are split.
/// Leading spaces are an indent kept on every line (up to half the width). Returns at least
/// one (possibly empty) line.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let indent = text
        .chars()
        .take_while(|c| *c == ' ')
        .count()
        .min(width / 2);
    if indent == 0 {
        return wrap_words(text, width);
    }
    let pad = " ".repeat(indent);
    wrap_words(text.trim_start_matches(' '), width - indent)
        .into_iter()
        .map(|l| format!("{pad}{l}"))
        .collect()
}

fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut cur = String::new();
    let mut cur_len = 0usize;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let mut chars: Vec<char> = word.chars().collect();
        loop {
            let wl = chars.len();
            let sep = usize::from(cur_len > 0);
            if cur_len + sep + wl <= width {
                if sep == 1 {
                    cur.push(' ');
                }
                cur.extend(chars.iter());
                cur_len += sep + wl;
                break;
            }
            if cur_len > 0 {
                lines.push(std::mem::take(&mut cur));
                cur_len = 0;
                continue;
            }
            // The word alone is too long: cut it.
            let rest = chars.split_off(width);
            lines.push(chars.iter().collect());
            chars = rest;
        }
    }
    if cur_len > 0 || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

/// `left` and `right` on one line, `right` flush right; when they do not fit, `left` wraps
/// (continuation lines indented by `indent`) and `right` goes on the last line or its own.
pub fn two_col(left: &str, right: &str, width: usize, indent: usize) -> Vec<String> {
    let width = width.max(1);
    let rlen = right.chars().count();
    let llen = left.chars().count();
    if llen + 1 + rlen <= width {
        return vec![join(left, llen, right, rlen, width)];
    }
    let lead = left
        .chars()
        .take_while(|c| *c == ' ')
        .count()
        .min(width / 2);
    let indent = indent.min((width - lead) / 2);
    let body = left.trim_start_matches(' ');
    let mut first = wrap_words(body, width - lead);
    let mut lines = Vec::with_capacity(first.len() + 1);
    let head = first.remove(0);
    lines.push(format!("{}{head}", " ".repeat(lead)));
    if !first.is_empty() {
        let pad = " ".repeat(lead + indent);
        for l in wrap_words(&first.join(" "), width - lead - indent) {
            lines.push(format!("{pad}{l}"));
        }
    }
    let last_len = lines.last().map(|l| l.chars().count()).unwrap_or(0);
    if rlen == 0 {
        return lines;
    }
    if last_len + 1 + rlen <= width {
        if let Some(last) = lines.pop() {
            lines.push(join(&last, last_len, right, rlen, width));
        }
    } else {
        for r in wrap(right, width) {
            let n = r.chars().count();
            lines.push(join("", 0, &r, n, width));
        }
    }
    lines
}

/// Three columns: a label, then two right-aligned cells of `cell` width each.
pub fn three_col(label: &str, mid: &str, right: &str, width: usize, cell: usize) -> Vec<String> {
    let ml = mid.chars().count();
    let rl = right.chars().count();
    let cell = cell.max(ml).max(rl);
    if width < 2 * cell + 3 {
        let mut out = two_col(label, "", width, 2);
        out.extend(two_col("", &format!("{mid} {right}"), width, 0));
        return out;
    }
    let label_w = width - 2 * cell - 2;
    let mut lines = wrap(label, label_w);
    let last = lines.pop().unwrap_or_default();
    lines.push(format!("{last:<label_w$} {mid:>cell$} {right:>cell$}"));
    lines
}

fn join(left: &str, llen: usize, right: &str, rlen: usize, width: usize) -> String {
    let gap = width.saturating_sub(llen + rlen);
    let mut s = String::with_capacity(width);
    s.push_str(left);
    s.extend(std::iter::repeat_n(' ', gap));
    s.push_str(right);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fits(lines: &[String], w: usize) {
        for l in lines {
            assert!(l.chars().count() <= w, "{l:?} wider than {w}");
        }
    }

    #[test]
    fn wrap_words_and_cut_long_ones() {
        assert_eq!(wrap("hello big world", 9), vec!["hello big", "world"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), vec![""]);
        assert_eq!(
            wrap("  + no bacon at all", 12),
            vec!["  + no bacon", "  at all"]
        );
    }

    #[test]
    fn two_col_fits_or_wraps() {
        assert_eq!(two_col("Tea", "2.00", 10, 2), vec!["Tea   2.00"]);
        let l = two_col("A very long item name indeed", "12.00", 16, 2);
        fits(&l, 16);
        assert_eq!(
            l,
            vec!["A very long item", "  name indeed", "           12.00"]
        );
        let l = two_col("Long item name here", "1.00", 16, 2);
        assert_eq!(l, vec!["Long item name", "  here      1.00"]);
        let l = two_col("x", "a-right-side-wider-than-paper", 10, 0);
        fits(&l, 10);
        let joined: String = l.concat().chars().filter(|c| *c != ' ').collect();
        assert!(joined.contains("a-right-side-wider-than-paper"));
    }

    #[test]
    fn three_col_layout() {
        assert_eq!(
            three_col("VAT 20%", "10.00", "2.00", 32, 8),
            vec!["VAT 20%           10.00     2.00"]
        );
        fits(&three_col("VAT", "1", "2", 12, 8), 12);
    }

    proptest::proptest! {
        #[test]
        fn wrapped_lines_fit_and_keep_every_character(
            text in "[a-zé€ ]{0,80}",
            right in "[0-9.,-]{0,12}",
            width in 1usize..50,
        ) {
            let strip = |s: &str| s.chars().filter(|c| *c != ' ').collect::<String>();
            let lines = wrap(&text, width);
            for l in &lines {
                proptest::prop_assert!(l.chars().count() <= width, "{:?} > {}", l, width);
            }
            proptest::prop_assert_eq!(strip(&lines.concat()), strip(&text));
            let lines = two_col(&text, &right, width, 2);
            for l in &lines {
                proptest::prop_assert!(l.chars().count() <= width, "{:?} > {}", l, width);
            }
            proptest::prop_assert_eq!(strip(&lines.concat()), strip(&format!("{text}{right}")));
        }
    }
}
