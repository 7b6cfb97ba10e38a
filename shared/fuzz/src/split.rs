/// Reads a fuzz input as a selector byte and fields separated by `\n--\n`, so one byte string
/// can carry a header and a body, or a currency and an amount.
pub struct Split<'a> {
    pub selector: u8,
    rest: &'a [u8],
}

const SEPARATOR: &[u8] = b"\n--\n";

impl<'a> Split<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        match data.split_first() {
            Some((first, rest)) => Split {
                selector: *first,
                rest,
            },
            None => Split {
                selector: 0,
                rest: &[],
            },
        }
    }

    /// The next field (everything left when there is no separator).
    pub fn field(&mut self) -> &'a [u8] {
        match self
            .rest
            .windows(SEPARATOR.len())
            .position(|w| w == SEPARATOR)
        {
            Some(at) => {
                let (head, tail) = self.rest.split_at(at);
                self.rest = &tail[SEPARATOR.len()..];
                head
            }
            None => std::mem::take(&mut self.rest),
        }
    }

    pub fn text(&mut self) -> String {
        String::from_utf8_lossy(self.field()).into_owned()
    }

    pub fn rest(self) -> &'a [u8] {
        self.rest
    }
}
