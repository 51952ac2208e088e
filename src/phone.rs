//! Phone numbers as personal data: shown masked, stored sealed.
//!
//! The masked form keeps the country calling code and the last digits, enough
//! for staff and admins to recognise a number without revealing it:
//! `+447700900123` → `+44 •••• ••01 23`.
//!
//! What a person types is first brought to E.164 ([`normalize`]), so that one
//! number has one spelling everywhere: in the allowlist, in rate limits and
//! when it is sent to Telegram.

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

/// Why a typed phone number was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("enter a phone number")]
    Empty,
    #[error("start the number with + and the country code, e.g. +44 7700 900123")]
    NoCountryCode,
    #[error("a phone number holds only digits, spaces, dashes, dots and brackets")]
    BadCharacter,
    #[error("that number is too short to be an international phone number")]
    TooShort,
    #[error("an international phone number has at most 15 digits")]
    TooLong,
}

/// Brings a typed phone number to E.164: `+` and 8 to 15 digits, the first
/// not 0. Accepts spaces, dashes, dots and brackets between digits, and `00`
/// for `+`. Does not check that the number exists: Telegram does.
pub fn normalize(input: &str) -> Result<String, PhoneError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(PhoneError::Empty);
    }
    let rest = if let Some(rest) = trimmed.strip_prefix('+') {
        rest
    } else if let Some(rest) = trimmed.strip_prefix("00") {
        rest
    } else {
        return Err(PhoneError::NoCountryCode);
    };
    let mut digits = String::with_capacity(16);
    for c in rest.chars() {
        match c {
            '0'..='9' => {
                if digits.len() == 16 {
                    return Err(PhoneError::TooLong);
                }
                digits.push(c);
            }
            ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
            _ => return Err(PhoneError::BadCharacter),
        }
    }
    if digits.starts_with('0') {
        return Err(PhoneError::NoCountryCode);
    }
    match digits.len() {
        0..=7 => Err(PhoneError::TooShort),
        8..=15 => Ok(format!("+{digits}")),
        _ => Err(PhoneError::TooLong),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_numbers_become_e164() {
        assert_eq!(
            normalize(" +44 7700 900-123 ").as_deref(),
            Ok("+447700900123")
        );
        assert_eq!(
            normalize("+1 (415) 555.2671").as_deref(),
            Ok("+14155552671")
        );
        assert_eq!(
            normalize("0044 7700 900123").as_deref(),
            Ok("+447700900123")
        );
        assert_eq!(normalize("+999664000001").as_deref(), Ok("+999664000001"));
    }

    #[test]
    fn numbers_that_are_not_e164_say_why() {
        assert_eq!(normalize(""), Err(PhoneError::Empty));
        assert_eq!(normalize("   "), Err(PhoneError::Empty));
        assert_eq!(normalize("07700 900123"), Err(PhoneError::NoCountryCode));
        assert_eq!(normalize("+0 7700 900123"), Err(PhoneError::NoCountryCode));
        assert_eq!(normalize("+44 7700 9OO123"), Err(PhoneError::BadCharacter));
        assert_eq!(normalize("+44<script>"), Err(PhoneError::BadCharacter));
        assert_eq!(normalize("+4477"), Err(PhoneError::TooShort));
        assert_eq!(normalize("+1234567890123456"), Err(PhoneError::TooLong));
        assert_eq!(
            normalize(&format!("+{}", "9".repeat(10_000))),
            Err(PhoneError::TooLong)
        );
    }

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
