//! wip
/// x
#[derive(Debug)]
pub struct UserAgent;
