//! Just enough JSON to read the Docker API's answers (`follow`): a parser into a value tree.
//!
//! Written by hand because the helper is std only (it is compiled on its own, static, and
//! embedded in docker flow); what it reads is the engine's own output, so the parser is strict
//! and small rather than fast: objects, arrays, strings (with escapes), numbers, true, false,
//! null.

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The value at `key` of an object (None for anything else, or no such key).
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value at a path of keys.
    pub fn at(&self, path: &[&str]) -> Option<&Json> {
        path.iter().try_fold(self, |v, k| v.get(k))
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> &[Json] {
        match self {
            Json::Array(a) => a,
            _ => &[],
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Number(n) if *n >= 0.0 && n.fract() == 0.0 => Some(*n as u64),
            _ => None,
        }
    }
}

/// Parses a whole document; None when it is not JSON.
pub fn parse(text: &str) -> Option<Json> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value()?;
    p.space();
    (p.i == p.s.len()).then_some(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn space(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        self.space();
        (self.s.get(self.i) == Some(&b)).then(|| self.i += 1)
    }

    fn word(&mut self, w: &str, v: Json) -> Option<Json> {
        self.s[self.i..].starts_with(w.as_bytes()).then(|| {
            self.i += w.len();
            v
        })
    }

    fn value(&mut self) -> Option<Json> {
        self.space();
        match *self.s.get(self.i)? {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => self.string().map(Json::String),
            b't' => self.word("true", Json::Bool(true)),
            b'f' => self.word("false", Json::Bool(false)),
            b'n' => self.word("null", Json::Null),
            _ => self.number(),
        }
    }

    fn object(&mut self) -> Option<Json> {
        self.eat(b'{')?;
        let mut fields = Vec::new();
        if self.eat(b'}').is_some() {
            return Some(Json::Object(fields));
        }
        loop {
            self.space();
            let k = self.string()?;
            self.eat(b':')?;
            fields.push((k, self.value()?));
            if self.eat(b',').is_none() {
                self.eat(b'}')?;
                return Some(Json::Object(fields));
            }
        }
    }

    fn array(&mut self) -> Option<Json> {
        self.eat(b'[')?;
        let mut items = Vec::new();
        if self.eat(b']').is_some() {
            return Some(Json::Array(items));
        }
        loop {
            items.push(self.value()?);
            if self.eat(b',').is_none() {
                self.eat(b']')?;
                return Some(Json::Array(items));
            }
        }
    }

    fn string(&mut self) -> Option<String> {
        if self.s.get(self.i) != Some(&b'"') {
            return None;
        }
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let b = *self.s.get(self.i)?;
            self.i += 1;
            match b {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let e = *self.s.get(self.i)?;
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hex = std::str::from_utf8(self.s.get(self.i..self.i + 4)?).ok()?;
                            self.i += 4;
                            // Surrogate pairs are not needed for what Docker says here.
                            char::from_u32(u32::from_str_radix(hex, 16).ok()?).unwrap_or('\u{fffd}')
                        }
                        _ => return None,
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                _ => out.push(b),
            }
        }
    }

    fn number(&mut self) -> Option<Json> {
        let start = self.i;
        while self
            .s
            .get(self.i)
            .is_some_and(|b| b.is_ascii_digit() || b"+-.eE".contains(b))
        {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()?
            .parse()
            .ok()
            .map(Json::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_docker_api_answers() {
        let v = parse(
            r#"[{"ID":"abc","Slot":2,"Status":{"State":"running","Err":""},
                "NetworksAttachments":[{"Network":{"Spec":{"Name":"dflow-p-app"}},"Addresses":["10.0.1.3/24"]}],
                "Spec":{"ContainerSpec":{"Labels":{"a\"b":"c\\d\u00e9"}}},"X":null,"Y":[true,false,-1.5e2]}]"#,
        )
        .unwrap();
        let t = &v.as_array()[0];
        assert_eq!(t.get("ID").and_then(Json::as_str), Some("abc"));
        assert_eq!(t.get("Slot").and_then(Json::as_u64), Some(2));
        assert_eq!(
            t.at(&["Status", "State"]).and_then(Json::as_str),
            Some("running")
        );
        let net = &t.get("NetworksAttachments").unwrap().as_array()[0];
        assert_eq!(
            net.at(&["Network", "Spec", "Name"]).and_then(Json::as_str),
            Some("dflow-p-app")
        );
        assert_eq!(
            t.at(&["Spec", "ContainerSpec", "Labels", "a\"b"])
                .and_then(Json::as_str),
            Some("c\\dé")
        );
        assert_eq!(t.get("X"), Some(&Json::Null));
        assert_eq!(
            t.get("Y").unwrap().as_array(),
            &[Json::Bool(true), Json::Bool(false), Json::Number(-150.0)]
        );
    }

    #[test]
    fn refuses_what_is_not_json() {
        for bad in ["", "[1,", "{\"a\" 1}", "[1] x", "\"open", "tru"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(parse(" [ ] "), Some(Json::Array(Vec::new())));
    }
}
