//! Reading request bodies: at most 3 MiB (kube's limit, 413 beyond), in the formats kube
//! accepts — JSON, Kubernetes protobuf (what kubectl's generators send, see [`protobuf`]) and
//! the patch types by their content type — each turned into a JSON value or refused with
//! kube's 400/415 message. Nothing is written before a body is read whole.
//!
//! [`protobuf`]: super::protobuf

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use serde_json::Value;

use super::status::{ApiError, MAX_REQUEST_BODY_BYTES};

/// The media types a create or update body may have.
pub const OBJECT_TYPES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];

/// Reads the whole body, refusing more than the limit.
pub async fn read<B>(body: B) -> Result<Bytes, ApiError>
where
    B: hyper::body::Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    match Limited::new(body, MAX_REQUEST_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::too_large(MAX_REQUEST_BODY_BYTES))
        }
        Err(e) => Err(ApiError::bad_request(format!(
            "reading the request body: {e}"
        ))),
    }
}

/// The media type of a Content-Type header, without parameters, lower-cased.
pub fn media_type(content_type: Option<&str>) -> String {
    content_type
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// An object body (create, update) as JSON.
pub fn object(content_type: Option<&str>, bytes: &[u8]) -> Result<Value, ApiError> {
    match media_type(content_type).as_str() {
        "application/json" | "" => json_object(bytes),
        "application/vnd.kubernetes.protobuf" => super::protobuf::decode(bytes).map_err(|e| {
            ApiError::bad_request(format!(
                "the object provided is unrecognized (protobuf): {e}"
            ))
        }),
        _ => Err(ApiError::unsupported_media_type(OBJECT_TYPES)),
    }
}

/// Decodes a JSON object with kube's error text for malformed input.
pub fn json_object(bytes: &[u8]) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: {e}",
            "object"
        ))
    })?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the object provided is unrecognized: the body is not a JSON object",
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_formats_are_read() {
        assert!(object(Some("application/json; charset=utf-8"), b"{}").is_ok());
        assert_eq!(
            object(Some("text/plain"), b"{}").err().map(|e| e.code),
            Some(415)
        );
        assert_eq!(object(None, b"{not json").err().map(|e| e.code), Some(400));
        assert_eq!(object(None, b"[1]").err().map(|e| e.code), Some(400));
    }
}
