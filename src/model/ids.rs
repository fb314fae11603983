//! Validated identifiers: customers, tenants, email addresses, methods and record versions.
//!
//! Each type checks its input once, at construction, and returns an [`InputError`] naming
//! what is wrong, so nothing malformed reaches a store, a provider or a mail header.

use std::fmt;
use std::sync::Arc;

use super::cloud::Cloud;
use super::input::InputError;
use super::tenant::{DiscoveredTenant, is_guid};

/// The MSP's own identifier for a customer (the key every record is stored under).
///
/// 1 to 128 characters, no control characters, no leading or trailing spaces.
///
/// Cheap to clone (the text is shared). The id carries its hash, computed once when it is
/// made: looking a customer up in the engine's token cache reads neither the id's text nor
/// a hasher's state, which is what keeps a cached
/// [`access_token`](crate::TenantAccess::access_token) fast with many customers.
#[derive(Clone)]
pub struct CustomerId {
    text: Arc<str>,
    /// [`id_hash`] of `text`.
    hash: u64,
}

/// The process's hash of an id's text: foldhash, seeded at random once per process.
pub(crate) fn id_hash(text: &str) -> u64 {
    static STATE: std::sync::LazyLock<foldhash::fast::RandomState> =
        std::sync::LazyLock::new(Default::default);
    std::hash::BuildHasher::hash_one(&*STATE, text)
}

impl PartialEq for CustomerId {
    fn eq(&self, other: &Self) -> bool {
        // Different hashes: different ids, without reading either text; the same text
        // `Arc` (a clone of a stored id): equal, also without reading it.
        self.hash == other.hash && self.text == other.text
    }
}

impl Eq for CustomerId {}

impl PartialOrd for CustomerId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for CustomerId {
    /// By text: stores list customers in id order.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

impl std::hash::Hash for CustomerId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl CustomerId {
    /// Checks and wraps a customer id.
    pub fn new(value: impl Into<String>) -> Result<Self, InputError> {
        let value = value.into();
        if value.is_empty() || value.len() > 128 {
            return Err(InputError::CustomerId("must be 1 to 128 bytes long"));
        }
        if value.chars().any(char::is_control) {
            return Err(InputError::CustomerId(
                "must not contain control characters",
            ));
        }
        if value.trim() != value {
            return Err(InputError::CustomerId(
                "must not start or end with white space",
            ));
        }
        Ok(Self::from_text(value.into()))
    }

    fn from_text(text: Arc<str>) -> Self {
        let hash = id_hash(&text);
        Self { text, hash }
    }

    /// The hash the id carries (see the type's docs); equal ids have equal hashes.
    pub(crate) fn precomputed_hash(&self) -> u64 {
        self.hash
    }

    /// The shared text, for tables that keep the hash apart (the token cache).
    pub(crate) fn shared_text(&self) -> &Arc<str> {
        &self.text
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomerId({:?})", self.text)
    }
}

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Serialized as its text.
impl serde::Serialize for CustomerId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Deserialized from its text, checked as [`CustomerId::new`] checks it.
impl<'de> serde::Deserialize<'de> for CustomerId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::new(text).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<&str> for CustomerId {
    type Error = InputError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

/// An Entra ID tenant: its GUID or one of its verified domains, and, once resolved, what
/// tenant discovery found (its GUID and cloud, a [`DiscoveredTenant`]).
///
/// `common` and `consumers` are refused: this crate always talks to one named tenant
/// (the password grant and admin consent do not work with them). `organizations` is refused
/// too, since a connection must be bound to one customer.
///
/// The engine resolves every new customer's tenant with
/// [`IdentityProvider::discover_tenant`](crate::ports::IdentityProvider::discover_tenant) and
/// keeps the result here ([`with_discovery`](Self::with_discovery)), so the tenant travels
/// with its GUID to every check: [`guid`](Self::guid) is what the admin-consent callback's
/// `tenant`, a token's `tid` and the validating call's tenant are compared with. Two values
/// are equal when they name the tenant alike and carry the same discovery and cloud.
///
/// The tenant's [`cloud`](Self::cloud) decides where every request for it goes: the cloud
/// the MSP chose ([`with_cloud`](Self::with_cloud), from
/// [`NewCustomer::cloud`](crate::NewCustomer::cloud)), else the one discovery found, else
/// the public cloud. A chosen cloud that discovery contradicts is refused
/// ([`InputError::CloudMismatch`]): discovery says what the tenant really is.
///
/// ```
/// use tenant_access::model::{DiscoveredTenant, TenantId};
/// let given = TenantId::new("Contoso.com").unwrap();
/// assert_eq!((given.as_str(), given.guid()), ("contoso.com", None));
/// let guid = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// let pinned = given.with_discovery(DiscoveredTenant::new(guid).unwrap()).unwrap();
/// assert_eq!((pinned.as_str(), pinned.guid()), ("contoso.com", Some(guid)));
/// // Once the GUID is known, only it proves the tenant: a domain list does not.
/// assert!(!pinned.matches("00000000-0000-0000-0000-000000000001", &["contoso.com".into()]));
/// assert!(pinned.matches(&guid.to_uppercase(), &[]));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TenantId {
    /// The tenant as given (lower-case): what requests name.
    name: Arc<str>,
    /// What discovery found, once resolved.
    discovered: Option<Arc<DiscoveredTenant>>,
    /// The cloud the MSP chose, if any (for tenants discovery cannot place).
    chosen_cloud: Option<Cloud>,
}

impl TenantId {
    /// Checks and wraps a tenant GUID (any case) or domain name (stored lower-case).
    pub fn new(value: impl Into<String>) -> Result<Self, InputError> {
        let value = value.into().trim().to_ascii_lowercase();
        if matches!(value.as_str(), "common" | "consumers" | "organizations") {
            return Err(InputError::Tenant(
                "must name one tenant (a GUID or a verified domain), not a shared endpoint",
            ));
        }
        if is_guid(&value) || is_domain(&value) {
            Ok(Self {
                name: value.into(),
                discovered: None,
                chosen_cloud: None,
            })
        } else {
            Err(InputError::Tenant(
                "must be a tenant GUID or a domain name such as contoso.onmicrosoft.com",
            ))
        }
    }

    /// The same tenant, resolved: it keeps `found` (its GUID and cloud). A tenant given as a
    /// GUID must be resolved to that GUID, and a tenant given a cloud
    /// ([`with_cloud`](Self::with_cloud)) must be found in that cloud when discovery names one
    /// ([`InputError::CloudMismatch`]).
    pub fn with_discovery(&self, found: DiscoveredTenant) -> Result<Self, InputError> {
        if !is_guid(&found.id) {
            return Err(InputError::Tenant("discovery must name the tenant's GUID"));
        }
        if self.is_guid() && !self.name.eq_ignore_ascii_case(&found.id) {
            return Err(InputError::Tenant(
                "was given as a GUID, and discovery named another one",
            ));
        }
        check_cloud(&self.name, self.chosen_cloud, Some(&found))?;
        Ok(Self {
            name: self.name.clone(),
            discovered: Some(Arc::new(found)),
            chosen_cloud: self.chosen_cloud,
        })
    }

    /// The same tenant in the cloud the MSP chose: requests for it go to that cloud's hosts,
    /// tenant discovery included. For tenants discovery cannot place (a national cloud the
    /// public authority does not answer for); refused with [`InputError::CloudMismatch`]
    /// when the tenant was already found in another cloud.
    ///
    /// ```
    /// use tenant_access::model::{Cloud, TenantId};
    /// let tenant = TenantId::new("contoso.us").unwrap();
    /// assert_eq!(tenant.cloud(), Cloud::Global);
    /// let gov = tenant.with_cloud(Cloud::UsGovL4).unwrap();
    /// assert_eq!((gov.cloud(), gov.chosen_cloud()), (Cloud::UsGovL4, Some(Cloud::UsGovL4)));
    /// ```
    pub fn with_cloud(&self, cloud: Cloud) -> Result<Self, InputError> {
        check_cloud(&self.name, Some(cloud), self.discovered.as_deref())?;
        Ok(Self {
            name: self.name.clone(),
            discovered: self.discovered.clone(),
            chosen_cloud: Some(cloud),
        })
    }

    /// The same tenant in the cloud the MSP chose, without what discovery found if it named
    /// another cloud: the engine discovers every new customer's tenant again, and refuses
    /// the mismatch then.
    pub(crate) fn choosing_cloud(&self, cloud: Cloud) -> Self {
        let consistent = check_cloud(&self.name, Some(cloud), self.discovered.as_deref()).is_ok();
        Self {
            name: self.name.clone(),
            discovered: self.discovered.clone().filter(|_| consistent),
            chosen_cloud: Some(cloud),
        }
    }

    /// The cloud the tenant's requests go to: the MSP's choice, else the one discovery
    /// found, else [`Cloud::Global`] (a tenant never resolved, or in a cloud discovery named
    /// but this crate does not know).
    pub fn cloud(&self) -> Cloud {
        self.chosen_cloud
            .or_else(|| self.discovered.as_deref().and_then(DiscoveredTenant::cloud))
            .unwrap_or_default()
    }

    /// The cloud the MSP chose ([`with_cloud`](Self::with_cloud)), if any.
    pub fn chosen_cloud(&self) -> Option<Cloud> {
        self.chosen_cloud
    }

    /// The tenant as given, as text (lower-case): the GUID or domain requests name.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// Whether it was given as a GUID rather than a domain name.
    pub fn is_guid(&self) -> bool {
        is_guid(&self.name)
    }

    /// The tenant's GUID, when known: the discovered one, else the tenant as given when it is
    /// a GUID. `None` for a domain never resolved (a record stored before discovery, or a
    /// provider without it).
    pub fn guid(&self) -> Option<&str> {
        match &self.discovered {
            Some(found) => Some(&found.id),
            None if self.is_guid() => Some(&self.name),
            None => None,
        }
    }

    /// What discovery found, if the tenant was resolved.
    pub fn discovered(&self) -> Option<&DiscoveredTenant> {
        self.discovered.as_deref()
    }

    /// Whether a tenant proven by a validation call (its GUID and verified domains) is this
    /// one: by [`guid`](Self::guid) when known, else by the verified domains.
    pub fn matches(&self, id: &str, domains: &[String]) -> bool {
        match self.guid() {
            Some(guid) => guid.eq_ignore_ascii_case(id),
            None => domains.iter().any(|d| d.eq_ignore_ascii_case(&self.name)),
        }
    }

    /// Whether `tenant` (a consent callback's `tenant`, a token's `tid`) names another tenant
    /// than this one's known GUID. `false` when the GUID is not known.
    pub fn is_other_than(&self, tenant: &str) -> bool {
        self.guid()
            .is_some_and(|guid| !guid.eq_ignore_ascii_case(tenant.trim()))
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut tuple = f.debug_tuple("TenantId");
        tuple.field(&&*self.name);
        if let Some(found) = &self.discovered {
            tuple.field(found);
        }
        if let Some(cloud) = self.chosen_cloud {
            tuple.field(&cloud);
        }
        tuple.finish()
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Refuses a chosen cloud that discovery contradicts (both known and different).
fn check_cloud(
    tenant: &str,
    chosen: Option<Cloud>,
    found: Option<&DiscoveredTenant>,
) -> Result<(), InputError> {
    match (chosen, found.and_then(DiscoveredTenant::cloud)) {
        (Some(chosen), Some(discovered)) if chosen != discovered => {
            Err(InputError::CloudMismatch {
                tenant: tenant.to_owned(),
                chosen,
                discovered,
            })
        }
        _ => Ok(()),
    }
}

fn is_domain(s: &str) -> bool {
    s.len() <= 253
        && s.contains('.')
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// RFC 5322 `dot-atom-text`: atext runs separated by single dots. Quoted local parts and
/// non-ASCII (SMTPUTF8) addresses are refused on purpose: they are rare for admin accounts and
/// many relays mishandle them.
fn is_dot_atom(s: &str) -> bool {
    s.split('.').all(|atom| {
        !atom.is_empty()
            && atom
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b))
    })
}

/// An email address, checked for the shape mail servers accept and free of anything that
/// could break a mail header (no white space, no control characters, no angle brackets).
///
/// The part before the `@` must be a plain RFC 5322 dot-atom (no quoted strings, no
/// non-ASCII); with the `smtp` feature the address must also parse as a
/// `lettre::Address`, so an address the SMTP mailer could not send to is refused here, at
/// invitation time, before anything is stored.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(Arc<str>);

impl EmailAddress {
    /// Checks and wraps an address such as `admin@contoso.com`.
    pub fn new(value: impl Into<String>) -> Result<Self, InputError> {
        let value = value.into();
        check_email_shape(&value)?;
        // With the SMTP mailer on, the address must also be one lettre will send to, so a
        // customer whose invitation could never be mailed is refused before it is stored.
        #[cfg(feature = "smtp")]
        if value.parse::<lettre::Address>().is_err() {
            return Err(InputError::Email("is not accepted by the SMTP mailer"));
        }
        Ok(Self(value.into()))
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The crate's own address rules (without the `smtp` feature, the only ones).
fn check_email_shape(value: &str) -> Result<(), InputError> {
    if value.len() > 254 {
        return Err(InputError::Email("is longer than 254 bytes"));
    }
    if value
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
    {
        return Err(InputError::Email(
            "must not contain white space, control characters, angle brackets, commas or semicolons",
        ));
    }
    let Some((local, domain)) = value.rsplit_once('@') else {
        return Err(InputError::Email("has no @"));
    };
    if local.is_empty() || local.len() > 64 || local.contains('@') {
        return Err(InputError::Email(
            "needs one @ with 1 to 64 characters before it",
        ));
    }
    if !is_dot_atom(local) {
        return Err(InputError::Email(
            "must have a plain local part: ASCII letters, digits, dots (not first, last or doubled) and !#$%&'*+-/=?^_`{|}~",
        ));
    }
    if !is_domain(&domain.to_ascii_lowercase()) {
        return Err(InputError::Email("has no valid domain after the @"));
    }
    Ok(())
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({:?})", self.0)
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The scopes of an access token for another resource than the connection's own, such as
/// `https://management.azure.com/.default` (Azure Resource Manager). Kept sorted and without
/// duplicates, so equal sets compare equal.
///
/// ```
/// use tenant_access::Scopes;
/// let arm = Scopes::new(["https://management.azure.com/.default"]).unwrap();
/// assert_eq!(arm.as_str(), "https://management.azure.com/.default");
/// let two = Scopes::new(["b", "a", "b"]).unwrap();
/// assert_eq!(two.as_str(), "a b");
/// assert!(Scopes::new(Vec::<String>::new()).is_err());
/// assert!(Scopes::new(["has space"]).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scopes(Arc<str>);

impl Scopes {
    /// Checks and normalises a set of scopes: at least one, none empty, none with white space
    /// or control characters.
    pub fn new<I, S>(scopes: I) -> Result<Self, InputError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list: Vec<String> = Vec::new();
        for scope in scopes {
            let scope = scope.as_ref();
            if scope.is_empty() || scope.len() > 512 {
                return Err(InputError::Scopes("each scope must be 1 to 512 bytes long"));
            }
            if scope.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(InputError::Scopes(
                    "a scope must not contain white space or control characters",
                ));
            }
            list.push(scope.to_owned());
        }
        if list.is_empty() {
            return Err(InputError::Scopes("at least one scope is needed"));
        }
        list.sort();
        list.dedup();
        Ok(Self(list.join(" ").into()))
    }

    /// The scopes, space separated (the OAuth `scope` parameter).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The scopes one by one.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.split(' ')
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a customer's connection is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// Delegated token through the device-code flow (RFC 8628), started from an invitation.
    DeviceCode,
    /// A global admin's username and password (ROPC). Fails when MFA is on.
    Password,
    /// An application registered in the customer's tenant (client credentials).
    AppRegistration,
}

impl Method {
    /// A short, stable name (`device_code`, `password`, `app_registration`).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::DeviceCode => "device_code",
            Method::Password => "password",
            Method::AppRegistration => "app_registration",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s names.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "device_code" => Method::DeviceCode,
            "password" => Method::Password,
            "app_registration" => Method::AppRegistration,
            _ => return None,
        })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The version of a stored record, raised by one on every write (compare-and-swap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u64);

impl Version {
    /// The version a record has before it is first stored.
    pub const NEW: Version = Version(0);

    /// The version after this one.
    pub fn next(self) -> Version {
        Version(self.0 + 1)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// 16 bytes as a GUID's text (`8-4-4-4-12` lower-case hex digits).
pub(crate) fn guid_text(bytes: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut guid = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            guid.push('-');
        }
        guid.push(HEX[usize::from(b >> 4)] as char);
        guid.push(HEX[usize::from(b & 0xf)] as char);
    }
    guid
}

/// A GUID derived from `name`: the first 16 bytes of its SHA-256, as a GUID's text (the test
/// doubles' stable tenant GUIDs).
#[cfg(any(feature = "mock", feature = "testing"))]
pub(crate) fn derived_guid(name: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(name.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    guid_text(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_ids_carry_a_hash_that_follows_their_text() {
        use std::hash::BuildHasher;
        let a = CustomerId::new("contoso").unwrap();
        let b = CustomerId::new(String::from("contoso")).unwrap();
        let other = CustomerId::new("fabrikam").unwrap();
        assert!(!Arc::ptr_eq(&a.text, &b.text));
        assert_eq!(a, b);
        assert_eq!(a.precomputed_hash(), b.precomputed_hash());
        assert_ne!(a, other);
        assert_ne!(a.precomputed_hash(), other.precomputed_hash());
        // `Hash` agrees with `Eq` in any hasher.
        let state = std::collections::hash_map::RandomState::new();
        assert_eq!(state.hash_one(&a), state.hash_one(&b));
        // Order is the text's.
        assert!(a < other);
        assert_eq!(a.precomputed_hash(), id_hash("contoso"));
    }

    #[test]
    fn customer_ids() {
        assert!(CustomerId::new("contoso").is_ok());
        assert!(CustomerId::new("").is_err());
        assert!(CustomerId::new(" x").is_err());
        assert!(CustomerId::new("a\nb").is_err());
        assert!(CustomerId::new("x".repeat(129)).is_err());
    }

    #[test]
    fn tenants() {
        let guid = TenantId::new("72F988BF-86F1-41AF-91AB-2D7CD011DB47").unwrap();
        assert!(guid.is_guid());
        assert!(guid.matches("72f988bf-86f1-41af-91ab-2d7cd011db47", &[]));
        let domain = TenantId::new("Contoso.onmicrosoft.com").unwrap();
        assert_eq!(domain.as_str(), "contoso.onmicrosoft.com");
        assert!(domain.matches("x", &["contoso.onmicrosoft.com".into()]));
        assert!(!domain.matches("x", &["fabrikam.com".into()]));
        for bad in [
            "common",
            "consumers",
            "organizations",
            "",
            "no_dots",
            "a..b",
            "-a.com",
        ] {
            assert!(TenantId::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn email_addresses() {
        assert!(EmailAddress::new("admin@contoso.com").is_ok());
        assert!(EmailAddress::new("o'brien&co+msp@sub.contoso.com").is_ok());
        assert!(EmailAddress::new("first.last@contoso.com").is_ok());
        for bad in [
            "admin",
            "@contoso.com",
            "admin@",
            "admin@contoso",
            "a b@contoso.com",
            "admin@contoso.com\r\nBcc: x@evil.com",
            "<admin@contoso.com>",
            "a@b@contoso.com",
            "a..b@contoso.com",
            ".a@contoso.com",
            "a.@contoso.com",
            "\"quoted\"@contoso.com",
            "a(comment)@contoso.com",
            "a:b@contoso.com",
            "a\\b@contoso.com",
            "jos\u{e9}@contoso.com",
        ] {
            assert!(EmailAddress::new(bad).is_err(), "{bad:?}");
        }
    }

    /// Every address the crate's own rules accept is one lettre accepts too, so the `smtp`
    /// feature only adds a safety net and never changes which customers can be invited.
    #[cfg(feature = "smtp")]
    #[test]
    fn own_rules_are_no_looser_than_lettre() {
        let max_local = "l".repeat(64);
        let long_label = "d".repeat(63);
        let cases = [
            "admin@contoso.com".to_owned(),
            "!#$%&'*+-/=?^_`{|}~@contoso.com".to_owned(),
            "first.last+tag@sub.contoso-it.example".to_owned(),
            "1@2.example".to_owned(),
            "a@1.2.3.4".to_owned(),
            "A.B@CONTOSO.COM".to_owned(),
            format!("{max_local}@contoso.com"),
            format!("a@{long_label}.{long_label}.{long_label}.com"),
            "a..b@contoso.com".to_owned(),
            "a@contoso..com".to_owned(),
            "a@-contoso.com".to_owned(),
            "a@contoso.com.".to_owned(),
            "\"a\"@contoso.com".to_owned(),
            "a@[127.0.0.1]".to_owned(),
        ];
        for case in &cases {
            if check_email_shape(case).is_ok() {
                assert!(
                    case.parse::<lettre::Address>().is_ok(),
                    "{case:?} passes our rules but not lettre's"
                );
                assert!(EmailAddress::new(case.as_str()).is_ok());
            }
        }
        assert!(check_email_shape("admin@contoso.com").is_ok());
    }

    #[test]
    fn method_names_round_trip() {
        for m in [
            Method::DeviceCode,
            Method::Password,
            Method::AppRegistration,
        ] {
            assert_eq!(Method::parse(m.as_str()), Some(m));
        }
        assert_eq!(Method::parse("nope"), None);
    }
}
