//! The OpenAPI 3 description of the HTTP interface, derived from the handlers' annotations and
//! the [`super::types`], for integrators who build their own clients.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Hải Đăng collector API",
        description = "Admin API of the Hải Đăng collector. Routes under /api/v1 need the bearer token from \
                       the collector's DATA/api.token, except this description."
    ),
    paths(
        super::healthz,
        super::metrics,
        super::openapi_json,
        super::ca,
        super::create_token,
        super::agents,
        super::revoke,
        super::events,
        super::alerts,
        super::rules,
        super::reload_rules,
    ),
    modifiers(&ApiToken)
)]
struct ApiDoc;

/// The bearer token scheme the guarded routes name as `api_token`.
struct ApiToken;

impl Modify for ApiToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("api_token", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The document served at `/api/v1/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn described() -> serde_json::Value {
        serde_json::to_value(document()).expect("the document serialises")
    }

    #[test]
    fn every_route_is_described_and_every_description_is_routed() {
        let doc = described();
        let paths = doc["paths"].as_object().expect("paths");
        let mut operations = BTreeSet::new();
        for (path, item) in paths {
            for method in item.as_object().expect("path item").keys() {
                operations.insert((method.clone(), path.clone()));
            }
        }
        let routed: BTreeSet<_> =
            crate::api::routes().iter().map(|r| (r.verb.as_str().to_string(), r.path.to_string())).collect();
        assert_eq!(operations, routed);
    }

    #[test]
    fn guarded_routes_say_they_need_the_token() {
        let doc = described();
        assert!(doc["components"]["securitySchemes"]["api_token"].is_object());
        for route in crate::api::routes() {
            let operation = &doc["paths"][route.path][route.verb.as_str()];
            let security = operation["security"].as_array().map(|s| s.iter().any(|req| req.get("api_token").is_some()));
            assert_eq!(security.unwrap_or(false), route.guarded, "{} {}", route.verb.as_str(), route.path);
        }
    }

    #[test]
    fn the_document_is_openapi_3() {
        let text = serde_json::to_string(&document()).expect("serialises");
        let doc: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc["openapi"]);
        for name in ["Event", "Agent", "Alert", "RuleSummary", "TokenRequest", "TokenCreated", "ErrorBody"] {
            assert!(doc["components"]["schemas"][name].is_object(), "schema {name} missing");
        }
    }

    #[test]
    fn the_event_list_is_described_as_json_lines_of_events() {
        let doc = described();
        let content = &doc["paths"]["/api/v1/events"]["get"]["responses"]["200"]["content"];
        assert_eq!(
            content.as_object().map(|c| c.keys().cloned().collect::<Vec<_>>()),
            Some(vec!["application/x-ndjson".to_string()])
        );
        assert_eq!(content["application/x-ndjson"]["schema"]["$ref"], "#/components/schemas/Event");
    }
}
