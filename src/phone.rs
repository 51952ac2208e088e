//! Phone numbers as personal data: shown masked, stored sealed.
//!
//! The masked form keeps the country calling code and the last digits, enough
//! for staff and admins to recognise a number without revealing it:
//! `+447700900123` → `+44 •••• ••01 23`.

/// Two-digit country calling codes (ITU-T E.164 assignments). Codes starting
/// with 1 or 7 are one digit; every other code is three digits.
const TWO_DIGIT_CODES: &[&str] = &[
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47",
    "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65",
    "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
];

const MASK: char = '•';

/// Splits international digits (no `+`) into country code and national number.
fn split_country_code(digits: &str) -> (&str, &str) {
    let len = match digits.as_bytes().first() {
        Some(b'1' | b'7') => 1,
        Some(_) if digits.len() >= 2 && TWO_DIGIT_CODES.contains(&&digits[..2]) => 2,
        Some(_) => 3,
        None => 0,
    };
    digits.split_at(len.min(digits.len()))
}

/// The masked display form of a phone number in international form. Any
/// formatting (spaces, dashes, brackets, a leading `+`) is ignored. Keeps the
/// country code and the last four national digits (two if the national number
/// is shorter than seven digits); every other digit becomes `•`, in groups of
/// four.
pub fn mask(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return String::new();
    }
    let (country, national) = split_country_code(&digits);
    let keep = if national.len() >= 7 { 4 } else { 2 };
    let hidden = national.len().saturating_sub(keep);
    let masked: Vec<char> = national
        .chars()
        .enumerate()
        .map(|(i, c)| if i < hidden { MASK } else { c })
        .collect();
    let mut groups: Vec<String> = masked
        .chunks(4)
        .map(|chunk| chunk.iter().collect())
        .collect();
    // A lone trailing digit reads badly ("•••• •456 7"): borrow one from the
    // group before it ("•••• •45 67").
    if groups.len() >= 2 && groups[groups.len() - 1].chars().count() == 1 {
        let n = groups.len();
        if let Some(moved) = groups[n - 2].pop() {
            groups[n - 1].insert(0, moved);
        }
    }
    let national = groups.join(" ");
    if national.is_empty() {
        format!("+{country}")
    } else {
        format!("+{country} {national}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_country_code_and_last_digits() {
        assert_eq!(mask("+447700900123"), "+44 •••• ••01 23");
        assert_eq!(mask("+44 7700 900123"), "+44 •••• ••01 23");
        assert_eq!(mask("+1 (415) 555-2671"), "+1 •••• ••26 71");
        assert_eq!(mask("+79161234567"), "+7 •••• ••45 67");
        assert_eq!(mask("+380501234567"), "+380 •••• •45 67");
        assert_eq!(mask("+4915112345678"), "+49 •••• •••5 678");
    }

    #[test]
    fn short_numbers_keep_two_digits() {
        assert_eq!(mask("+99912345"), "+999 ••• 45");
        assert_eq!(mask("+4212"), "+421 2");
    }

    #[test]
    fn masked_form_never_contains_the_hidden_digits() {
        let masked = mask("+447700900123");
        assert!(!masked.contains("7700"));
        assert!(!masked.contains("900"));
    }

    #[test]
    fn empty_input_masks_to_nothing() {
        assert_eq!(mask(""), "");
        assert_eq!(mask("+"), "");
    }
}
