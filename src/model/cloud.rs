//! [`Cloud`]: which Microsoft cloud a tenant lives in (the public one or a national cloud),
//! with each cloud's authority host, Microsoft Graph host and Graph resource.

use std::fmt;

/// A Microsoft cloud. A tenant lives in exactly one, and every request for it must go to that
/// cloud's authority and Graph host, ask for that cloud's Graph resource, and come from an
/// application registered in that cloud (shared/entra-wire.md, "National clouds").
///
/// ```
/// use tenant_access::model::Cloud;
/// let gov = Cloud::from_discovery("microsoftonline.us", Some("graph.microsoft.us")).unwrap();
/// assert_eq!(gov, Cloud::UsGovL4);
/// assert_eq!(gov.authority_host(), "login.microsoftonline.us");
/// assert_eq!(gov.graph_resource(), "https://graph.microsoft.us");
/// assert_eq!(Cloud::parse("usgov-l5-dod"), Some(Cloud::UsGovL5Dod));
/// assert_eq!(Cloud::default(), Cloud::Global);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[non_exhaustive]
pub enum Cloud {
    /// The public (global) cloud: `login.microsoftonline.com`, `graph.microsoft.com`.
    #[default]
    Global,
    /// US Government L4 (GCC High): `login.microsoftonline.us`, `graph.microsoft.us`.
    UsGovL4,
    /// US Government L5 (DoD): `login.microsoftonline.us`, `dod-graph.microsoft.us`.
    UsGovL5Dod,
    /// China, operated by 21Vianet: `login.chinacloudapi.cn`,
    /// `microsoftgraph.chinacloudapi.cn`.
    China,
}

impl Cloud {
    /// Every cloud, in order.
    pub const ALL: [Cloud; 4] = [
        Cloud::Global,
        Cloud::UsGovL4,
        Cloud::UsGovL5Dod,
        Cloud::China,
    ];

    /// The cloud's name as stored and configured: `global`, `usgov-l4`, `usgov-l5-dod`,
    /// `china`.
    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Global => "global",
            Cloud::UsGovL4 => "usgov-l4",
            Cloud::UsGovL5Dod => "usgov-l5-dod",
            Cloud::China => "china",
        }
    }

    /// The cloud named `name` ([`as_str`](Self::as_str), any case); `None` for any other.
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.trim();
        Self::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(name))
    }

    /// The authority (sign-in) host.
    pub fn authority_host(self) -> &'static str {
        match self {
            Cloud::Global => "login.microsoftonline.com",
            Cloud::UsGovL4 | Cloud::UsGovL5Dod => "login.microsoftonline.us",
            Cloud::China => "login.chinacloudapi.cn",
        }
    }

    /// The Microsoft Graph host.
    pub fn graph_host(self) -> &'static str {
        match self {
            Cloud::Global => "graph.microsoft.com",
            Cloud::UsGovL4 => "graph.microsoft.us",
            Cloud::UsGovL5Dod => "dod-graph.microsoft.us",
            Cloud::China => "microsoftgraph.chinacloudapi.cn",
        }
    }

    /// The authority as a URL: `https://{authority host}`.
    pub fn authority_url(self) -> String {
        format!("https://{}", self.authority_host())
    }

    /// Microsoft Graph's URL, which is also its resource identifier in this cloud (the
    /// `/.default` scopes name it): `https://{graph host}`.
    pub fn graph_resource(self) -> String {
        format!("https://{}", self.graph_host())
    }

    /// The `cloud_instance_name` a tenant's OpenID configuration names for this cloud
    /// (both US Government clouds share `microsoftonline.us`).
    pub fn cloud_instance_name(self) -> &'static str {
        match self {
            Cloud::Global => "microsoftonline.com",
            Cloud::UsGovL4 | Cloud::UsGovL5Dod => "microsoftonline.us",
            Cloud::China => "partner.microsoftonline.cn",
        }
    }

    /// The cloud tenant discovery names: by `cloud_instance_name`, and for
    /// `microsoftonline.us` by `msgraph_host`, the only thing that tells L4 from L5. `None`
    /// for a name this crate does not know, or a US Government tenant without a Graph host it
    /// knows (guessing would send tokens to the wrong Graph).
    pub fn from_discovery(cloud_instance_name: &str, msgraph_host: Option<&str>) -> Option<Self> {
        let instance = cloud_instance_name.trim().to_ascii_lowercase();
        let graph = msgraph_host.map(|h| h.trim().to_ascii_lowercase());
        match instance.as_str() {
            "microsoftonline.com" => Some(Cloud::Global),
            "microsoftonline.us" => match graph.as_deref() {
                Some("graph.microsoft.us") => Some(Cloud::UsGovL4),
                Some("dod-graph.microsoft.us") => Some(Cloud::UsGovL5Dod),
                _ => None,
            },
            // China's OpenID configuration names `partner.microsoftonline.cn`; its newer host
            // names say `chinacloudapi.cn`.
            "partner.microsoftonline.cn" | "chinacloudapi.cn" => Some(Cloud::China),
            _ => None,
        }
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_follow_the_national_clouds_table() {
        let table = [
            (
                Cloud::Global,
                "login.microsoftonline.com",
                "graph.microsoft.com",
            ),
            (
                Cloud::UsGovL4,
                "login.microsoftonline.us",
                "graph.microsoft.us",
            ),
            (
                Cloud::UsGovL5Dod,
                "login.microsoftonline.us",
                "dod-graph.microsoft.us",
            ),
            (
                Cloud::China,
                "login.chinacloudapi.cn",
                "microsoftgraph.chinacloudapi.cn",
            ),
        ];
        for (cloud, authority, graph) in table {
            assert_eq!(cloud.authority_host(), authority);
            assert_eq!(cloud.graph_host(), graph);
            assert_eq!(cloud.graph_resource(), format!("https://{graph}"));
            assert_eq!(Cloud::parse(cloud.as_str()), Some(cloud));
            assert_eq!(Cloud::parse(&cloud.as_str().to_uppercase()), Some(cloud));
            // What FakeEntra answers for a cloud reads back as that cloud.
            assert_eq!(
                Cloud::from_discovery(cloud.cloud_instance_name(), Some(graph)),
                Some(cloud)
            );
        }
        assert_eq!(Cloud::parse("germany"), None);
    }

    #[test]
    fn discovery_tells_l4_from_l5_by_graph_host_and_knows_china() {
        let us = "microsoftonline.us";
        assert_eq!(
            Cloud::from_discovery(us, Some("graph.microsoft.us")),
            Some(Cloud::UsGovL4)
        );
        assert_eq!(
            Cloud::from_discovery(us, Some("DOD-GRAPH.microsoft.us")),
            Some(Cloud::UsGovL5Dod)
        );
        assert_eq!(Cloud::from_discovery(us, None), None);
        assert_eq!(Cloud::from_discovery(us, Some("graph.microsoft.com")), None);
        assert_eq!(
            Cloud::from_discovery("partner.microsoftonline.cn", None),
            Some(Cloud::China)
        );
        assert_eq!(
            Cloud::from_discovery("chinacloudapi.cn", None),
            Some(Cloud::China)
        );
        assert_eq!(
            Cloud::from_discovery(" MicrosoftOnline.com ", None),
            Some(Cloud::Global)
        );
        assert_eq!(Cloud::from_discovery("microsoftonline.de", None), None);
    }
}
