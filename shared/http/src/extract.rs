//! Extractors that answer bad input in the contract's shape: JSON bodies (strict: unknown
//! fields are refused by the request types, at most 1 MiB), query strings, list paging.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use cy_data::Cursor;
use cy_domain::{Error, ErrorCode, FieldErrors};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The largest request body the API accepts (contract: over 1 MiB is 413).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON request body. Refuses a non-JSON content type (415), a body over 1 MiB (413), and
/// JSON that does not fit the request type (400 naming the field that failed).
pub struct Json<T>(pub T);

fn too_large() -> ApiError {
    ApiError(Error::new(ErrorCode::PayloadTooLarge, format!("Request bodies are limited to {MAX_BODY_BYTES} bytes.")))
}

/// Turns a serde failure into a 400 naming the path of the bad field.
pub fn json_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    let problem = inner.to_string();
    // serde reports "at line 1 column 9"; the path says where, so keep the sentence short.
    let problem = problem.split(" at line ").next().unwrap_or(&problem).to_owned();
    if inner.is_syntax() || inner.is_eof() {
        return ApiError(
            Error::bad_request(format!("The body is not valid JSON: {problem}.")).with_detail("body", problem),
        );
    }
    let field = if path == "." { "body".to_owned() } else { path };
    let mut fields = FieldErrors::new();
    fields.insert(field, problem);
    ApiError(Error::invalid_fields(fields))
}

/// Parses JSON bytes into `T`, with the contract's errors.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(json_error)?;
    de.end().map_err(|e| ApiError(Error::bad_request(format!("The body is not valid JSON: {e}."))))?;
    Ok(value)
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        if let Some(content_type) = req.headers().get(header::CONTENT_TYPE) {
            let json = content_type
                .to_str()
                .ok()
                .and_then(|ct| ct.split(';').next())
                .map(|mime| {
                    let mime = mime.trim().to_ascii_lowercase();
                    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
                })
                .unwrap_or(false);
            if !json {
                return Err(ApiError(Error::new(
                    ErrorCode::UnsupportedMediaType,
                    "Send the body as application/json.",
                )));
            }
        }
        let declared =
            req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            return Err(too_large());
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES).await.map_err(|_| too_large())?;
        if bytes.is_empty() {
            return Err(ApiError(Error::bad_request("The request needs a JSON body.")));
        }
        parse_json(&bytes).map(Json)
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A query string parsed into `T` (which should refuse unknown parameters), with the
/// contract's errors.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let raw = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded_like(raw);
        match de {
            Ok(map) => {
                let value = serde_json::Value::Object(map);
                serde_path_to_error::deserialize(value).map(Query).map_err(|e| {
                    let path = e.path().to_string();
                    let problem = e.into_inner().to_string();
                    ApiError(Error::invalid(if path == "." { "query" } else { &path }, problem))
                })
            }
            Err(problem) => Err(ApiError(Error::invalid("query", problem))),
        }
    }
}

/// Decodes `a=1&b=x` into a JSON object of strings (numbers are parsed by the request types
/// themselves), refusing repeated parameters.
fn serde_urlencoded_like(raw: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(raw).map_err(|_| "the query string is not valid percent-encoding".to_owned())?;
    let mut map = serde_json::Map::new();
    for (k, v) in pairs {
        if map.insert(k.clone(), serde_json::Value::String(v)).is_some() {
            return Err(format!("the parameter {k} is given twice"));
        }
    }
    Ok(map)
}

/// `?limit=&cursor=` of every list (contract: limit 1–100, default 20).
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// How many items, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
}

impl Paging {
    pub const DEFAULT_LIMIT: u32 = 20;
    pub const MAX_LIMIT: u32 = 100;

    pub fn limit(&self) -> Result<u32, Error> {
        match &self.limit {
            None => Ok(Self::DEFAULT_LIMIT),
            Some(raw) => raw.parse::<u32>().ok().filter(|n| (1..=Self::MAX_LIMIT).contains(n)).ok_or_else(|| {
                Error::invalid("limit", format!("must be a whole number from 1 to {}", Self::MAX_LIMIT))
            }),
        }
    }

    pub fn cursor(&self) -> Result<Option<Cursor>, Error> {
        self.cursor.as_deref().map(Cursor::from_client).transpose().map_err(Error::from)
    }
}

/// A page of a list: `{"items": [...], "next_cursor": "..." | null}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Listed<T> {
    pub fn new(items: Vec<T>, next: Option<Cursor>) -> Self {
        Listed { items, next_cursor: next.map(|c| c.as_str().to_owned()) }
    }
}

/// Reads a whole body with the API's size limit (for handlers that need the raw bytes).
pub async fn read_body(body: Body) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| too_large())
}

/// The version a client expects to update (optimistic concurrency): `version` in the body or
/// an `If-Match` header (`"3"`, `3` or `W/"3"`). Both given and different is a 400.
pub fn expected_version(headers: &axum::http::HeaderMap, in_body: Option<u64>) -> Result<Option<u64>, Error> {
    let from_header = match headers.get(header::IF_MATCH) {
        None => None,
        Some(raw) => {
            let parsed = raw
                .to_str()
                .ok()
                .map(|s| s.trim().trim_start_matches("W/").trim_matches('"'))
                .and_then(|s| s.parse::<u64>().ok());
            Some(parsed.ok_or_else(|| Error::invalid("If-Match", "must be the record's version number"))?)
        }
    };
    match (from_header, in_body) {
        (Some(h), Some(b)) if h != b => Err(Error::invalid("version", "differs from If-Match")),
        (h, b) => Ok(h.or(b)),
    }
}

/// Deserialises a field that may be absent (`None`), `null` (`Some(None)`: clear it) or a
/// value (`Some(Some(v))`). Use with `#[serde(default, deserialize_with = "double_option")]`.
pub fn double_option<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(de).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        nested: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    #[test]
    fn json_errors_name_the_field() {
        let err = parse_json::<Body>(br#"{"name": "a", "nested": {"n": "x"}}"#).unwrap_err().0;
        assert_eq!(err.code, ErrorCode::ValidationFailed);
        assert!(err.details.contains_key("nested.n"), "{:?}", err.details);
        let unknown = parse_json::<Body>(br#"{"name": "a", "extra": 1}"#).unwrap_err().0;
        assert!(unknown.message.contains("invalid") || !unknown.details.is_empty());
        assert!(unknown.details.values().any(|v| v.as_str().is_some_and(|s| s.contains("unknown field"))));
        let broken = parse_json::<Body>(b"{\"name\": ").unwrap_err().0;
        assert_eq!(broken.code, ErrorCode::ValidationFailed);
        assert!(parse_json::<Body>(br#"{"name": "a"} trailing"#).is_err());
    }

    #[test]
    fn query_strings_decode_and_refuse_repeats() {
        let map = serde_urlencoded_like("q=caf%C3%A9+mug&limit=5").unwrap();
        assert_eq!(map["q"], "café mug");
        assert!(serde_urlencoded_like("a=1&a=2").is_err());
        let paging = Paging { limit: Some("0".into()), cursor: None };
        assert!(paging.limit().is_err());
        assert_eq!(Paging::default().limit().unwrap(), 20);
    }
}

/// The client's address: what API Gateway saw (`requestContext.identity.sourceIp`, which a
/// client cannot set, unlike `X-Forwarded-For`), else the socket's peer (the local runtime),
/// else `unknown`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        use lambda_http::request::RequestContext;
        let from_gateway = match parts.extensions.get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV1(context)) => context.identity.source_ip.clone(),
            _ => None,
        };
        let from_socket = || {
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|axum::extract::ConnectInfo(peer)| peer.ip().to_string())
        };
        Ok(ClientIp(from_gateway.or_else(from_socket).unwrap_or_else(|| "unknown".to_owned())))
    }
}
