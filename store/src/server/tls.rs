//! Placeholder until TLS lands: without TLS no client presents a certificate.

/// The CN of the client certificate `request` came with.
pub fn common_name_of<T>(_request: &tonic::Request<T>) -> Option<String> {
    None
}
