// The MQTT ingestion config file: JSON → ingest::Config, with errors that name the member.
#include <fmt/format.h>

#include <fstream>
#include <set>
#include <sstream>

#include "ingest/ingest.h"

namespace cityroom::ingest {
namespace {

using base::ErrorKind;

constexpr std::size_t kTenantNameMax = 64;  // as the HTTP API (NGSILD-Tenant)

base::Result<void> bad(std::string_view where, std::string_view what) {
  return base::fail(ErrorKind::kInvalidRequest, fmt::format("{}: {}", where, what));
}

// Reads the members of one config object and reports unknown ones (typos would otherwise be
// silently ignored, and a mapping would quietly do something else).
class Reader {
 public:
  Reader(const json::object& o, std::string where) : o_(o), where_(std::move(where)) {}

  const std::string& where() const { return where_; }
  std::string at(std::string_view key) const {
    return where_.empty() ? std::string(key) : fmt::format("{}.{}", where_, key);
  }
  const json::value* get(std::string_view key) {
    known_.insert(std::string(key));
    return o_.if_contains(key);
  }

  base::Result<void> string(std::string_view key, std::string& out, bool required = false) {
    const auto* v = get(key);
    if (!v) return required ? bad(at(key), "is required") : base::Result<void>{};
    if (!v->is_string())
      return bad(at(key), fmt::format("must be a string, not {}", json::kind_name(*v)));
    out = v->get_string();
    return {};
  }
  base::Result<void> optional_string(std::string_view key, std::optional<std::string>& out) {
    std::string s;
    auto ok = string(key, s);
    if (ok && o_.contains(key)) out = std::move(s);
    return ok;
  }
  template <class Int>
  base::Result<void> integer(std::string_view key, Int& out, std::int64_t min, std::int64_t max) {
    const auto* v = get(key);
    if (!v) return {};
    std::int64_t n = 0;
    if (v->is_int64()) {
      n = v->get_int64();
    } else if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(max)) {
      n = static_cast<std::int64_t>(v->get_uint64());
    } else {
      return bad(at(key), fmt::format("must be an integer in {}..{}", min, max));
    }
    if (n < min || n > max)
      return bad(at(key), fmt::format("must be in {}..{}, not {}", min, max, n));
    out = static_cast<Int>(n);
    return {};
  }
  base::Result<void> boolean(std::string_view key, bool& out) {
    const auto* v = get(key);
    if (!v) return {};
    if (!v->is_bool()) return bad(at(key), "must be true or false");
    out = v->get_bool();
    return {};
  }
  base::Result<void> no_unknown() const {
    for (const auto& kv : o_) {
      if (!known_.contains(std::string(kv.key()))) {
        return bad(where_.empty() ? "config" : where_,
                   fmt::format("unknown member '{}'", std::string_view(kv.key())));
      }
    }
    return {};
  }

 private:
  const json::object& o_;
  std::string where_;
  std::set<std::string, std::less<>> known_;
};

#define CITYROOM_TRY(expr)                                            \
  do {                                                                \
    if (auto ok_ = (expr); !ok_) return std::unexpected(ok_.error()); \
  } while (0)

base::Result<mqtt::TlsOptions> parse_tls(const json::value& v, const std::string& where) {
  if (!v.is_object()) return std::unexpected(bad(where, "must be an object").error());
  Reader r(v.get_object(), where);
  mqtt::TlsOptions tls;
  CITYROOM_TRY(r.string("caFile", tls.ca_file));
  CITYROOM_TRY(r.string("caPath", tls.ca_path));
  CITYROOM_TRY(r.string("certFile", tls.cert_file));
  CITYROOM_TRY(r.string("keyFile", tls.key_file));
  CITYROOM_TRY(r.boolean("insecure", tls.insecure));
  CITYROOM_TRY(r.no_unknown());
  if (tls.ca_file.empty() && tls.ca_path.empty()) {
    return std::unexpected(bad(where, "needs caFile or caPath").error());
  }
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return std::unexpected(bad(where, "certFile and keyFile go together").error());
  }
  return tls;
}

base::Result<mqtt::Options> parse_broker(const json::value& v) {
  if (!v.is_object()) return std::unexpected(bad("broker", "must be an object").error());
  Reader r(v.get_object(), "broker");
  mqtt::Options o;
  o.client_id = kClientIdDefault;
  o.thread_name = "mqtt-ingest";
  CITYROOM_TRY(r.string("host", o.host));
  CITYROOM_TRY(r.integer("port", o.port, 1, 65535));
  CITYROOM_TRY(r.string("clientId", o.client_id));
  CITYROOM_TRY(r.string("username", o.username));
  CITYROOM_TRY(r.string("password", o.password));
  CITYROOM_TRY(r.integer("keepaliveS", o.keepalive_s, 5, 65535));
  CITYROOM_TRY(r.boolean("cleanSession", o.clean_session));
  CITYROOM_TRY(r.integer("reconnectDelayMinS", o.reconnect_delay_min_s, 1, 3600));
  CITYROOM_TRY(r.integer("reconnectDelayMaxS", o.reconnect_delay_max_s, 1, 3600));
  if (const auto* tls = r.get("tls")) {
    auto t = parse_tls(*tls, "broker.tls");
    if (!t) return std::unexpected(t.error());
    o.tls = std::move(*t);
  }
  CITYROOM_TRY(r.no_unknown());
  if (o.host.empty()) return std::unexpected(bad("broker.host", "must not be empty").error());
  if (o.client_id.empty() && !o.clean_session) {
    return std::unexpected(bad("broker.clientId",
                               "must not be empty with cleanSession false (a persistent "
                               "session is found again by its client id)")
                               .error());
  }
  if (o.reconnect_delay_max_s < o.reconnect_delay_min_s) {
    return std::unexpected(
        bad("broker.reconnectDelayMaxS", "must not be below reconnectDelayMinS").error());
  }
  if (!o.password.empty() && o.username.empty()) {
    return std::unexpected(bad("broker.password", "needs broker.username").error());
  }
  return o;
}

base::Result<void> check_context(const json::value& v, std::string_view where) {
  if (v.is_string() || v.is_object() || v.is_array()) return {};
  return bad(where, "must be a context URL, an object or an array of them");
}

base::Result<FieldMap> parse_field(std::string_view field, const json::value& v,
                                   const std::string& where) {
  FieldMap f;
  f.field = field;
  if (field.empty()) return std::unexpected(bad(where, "a field name must not be empty").error());
  if (v.is_string()) {
    f.attribute = v.get_string();
  } else if (v.is_object()) {
    Reader r(v.get_object(), where);
    CITYROOM_TRY(r.string("attribute", f.attribute));
    CITYROOM_TRY(r.optional_string("unitCode", f.unit_code));
    CITYROOM_TRY(r.boolean("optional", f.optional));
    if (const auto* s = r.get("scale")) {
      if (!s->is_number()) return std::unexpected(bad(r.at("scale"), "must be a number").error());
      f.scale = s->to_number<double>();
    }
    CITYROOM_TRY(r.no_unknown());
  } else {
    return std::unexpected(
        bad(where,
            "must be an attribute name or an object {\"attribute\", \"unitCode\", "
            "\"scale\", \"optional\"}")
            .error());
  }
  if (f.attribute.empty()) {
    if (field.front() == '/') {
      return std::unexpected(bad(where, "a JSON-pointer field needs an \"attribute\"").error());
    }
    f.attribute = field;
  }
  if (f.field.front() == '/') {
    // RFC 6901: '~' only as the escapes ~0 and ~1.
    for (std::size_t i = 0; i < f.field.size(); ++i) {
      if (f.field[i] == '~' &&
          (i + 1 == f.field.size() || (f.field[i + 1] != '0' && f.field[i + 1] != '1'))) {
        return std::unexpected(
            bad(where, fmt::format("'{}' is not a JSON pointer ('~' must be ~0 or ~1)", field))
                .error());
      }
    }
  }
  return f;
}

base::Result<void> parse_observed_at(Reader& r, Mapping& m) {
  const auto* v = r.get("observedAt");
  if (!v) return {};
  const auto where = r.at("observedAt");
  if (v->is_string()) {
    m.observed_at_field = std::string(v->get_string());
    return {};
  }
  if (!v->is_object()) return bad(where, "must be a field name or {\"field\", \"format\"}");
  Reader o(v->get_object(), where);
  std::string field, format = "iso8601";
  if (auto ok = o.string("field", field, true); !ok) return ok;
  if (auto ok = o.string("format", format); !ok) return ok;
  if (auto ok = o.no_unknown(); !ok) return ok;
  if (format == "iso8601") {
    m.observed_at_format = TimeFormat::kIso8601;
  } else if (format == "epochSeconds") {
    m.observed_at_format = TimeFormat::kEpochSeconds;
  } else if (format == "epochMillis") {
    m.observed_at_format = TimeFormat::kEpochMillis;
  } else {
    return bad(o.at("format"),
               fmt::format("'{}' is not iso8601, epochSeconds or epochMillis", format));
  }
  if (field.empty()) return bad(o.at("field"), "must not be empty");
  m.observed_at_field = std::move(field);
  return {};
}

// Checks `{N}` placeholders against the filter's wildcards and that the rest makes a URI.
base::Result<void> check_id_template(std::string_view tmpl, std::string_view filter,
                                     const std::string& where) {
  const std::size_t wildcards = mqtt::wildcard_count(filter);
  std::string probe;
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] == '}') return bad(where, "has a '}' without '{'");
    if (tmpl[i] != '{') {
      probe += tmpl[i];
      continue;
    }
    const auto close = tmpl.find('}', i);
    if (close == std::string_view::npos) return bad(where, "has a '{' without '}'");
    const auto digits = tmpl.substr(i + 1, close - i - 1);
    if (digits.empty() || digits.size() > 3 ||
        digits.find_first_not_of("0123456789") != std::string_view::npos) {
      return bad(where, fmt::format("'{{{}}}' is not a placeholder: use {{1}} for the first "
                                    "wildcard level of the topic",
                                    digits));
    }
    const std::size_t n = std::stoul(std::string(digits));
    if (n < 1 || n > wildcards) {
      return bad(where, fmt::format("{{{}}} but the topic filter '{}' has {} wildcard level(s)", n,
                                    filter, wildcards));
    }
    probe += "x";
    i = close;
  }
  if (!base::is_uri(probe)) {
    return bad(where, fmt::format("'{}' does not make a URI (like urn:ngsi-ld:Type:{{1}})", tmpl));
  }
  return {};
}

base::Result<void> parse_fields_mode(Reader& r, Mapping& m) {
  CITYROOM_TRY(r.string("entityId", m.id_template, true));
  CITYROOM_TRY(check_id_template(m.id_template, m.topic, r.at("entityId")));
  CITYROOM_TRY(r.string("entityType", m.entity_type, true));
  if (m.entity_type.empty()) return bad(r.at("entityType"), "must not be empty");
  CITYROOM_TRY(parse_observed_at(r, m));
  const auto* fields = r.get("fields");
  if (!fields) return bad(r.at("fields"), "is required in fields mode");
  if (!fields->is_object() || fields->get_object().empty()) {
    return bad(r.at("fields"), "must be a non-empty object {\"<payload field>\": ...}");
  }
  if (fields->get_object().size() > kFieldsMax) {
    return bad(r.at("fields"), fmt::format("has more than {} fields", kFieldsMax));
  }
  std::set<std::string, std::less<>> attributes;
  for (const auto& kv : fields->get_object()) {
    const auto where = fmt::format("{}.fields[\"{}\"]", r.where(), std::string_view(kv.key()));
    auto f = parse_field(kv.key(), kv.value(), where);
    if (!f) return std::unexpected(f.error());
    if (model::is_reserved_member(f->attribute) || f->attribute.starts_with('@')) {
      return bad(where, fmt::format("'{}' is a reserved name, not an attribute", f->attribute));
    }
    if (!attributes.insert(f->attribute).second) {
      return bad(where, fmt::format("attribute '{}' is mapped twice", f->attribute));
    }
    m.fields.push_back(std::move(*f));
  }
  return {};
}

base::Result<void> check_tenant(std::string_view t, const std::string& where) {
  const bool ok =
      !t.empty() && t.size() <= kTenantNameMax && std::all_of(t.begin(), t.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
      });
  if (ok) return {};
  return bad(where, fmt::format("'{}' is not a tenant name (1-{} letters, digits, '_', '-', '.')",
                                t, kTenantNameMax));
}

base::Result<Mapping> parse_mapping(const json::value& v, std::size_t index) {
  const auto where = fmt::format("mappings[{}]", index);
  if (!v.is_object()) return std::unexpected(bad(where, "must be an object").error());
  Reader r(v.get_object(), where);
  Mapping m;
  std::string mode;
  CITYROOM_TRY(r.string("topic", m.topic, true));
  if (auto ok = mqtt::check_filter(m.topic); !ok) {
    return std::unexpected(bad(r.at("topic"), ok.error().detail).error());
  }
  CITYROOM_TRY(r.string("name", m.name));
  if (m.name.empty()) m.name = m.topic;
  CITYROOM_TRY(r.integer("qos", m.qos, 0, 2));
  CITYROOM_TRY(r.string("mode", mode, true));
  if (const auto* t = r.get("tenant")) {
    if (!t->is_string()) return std::unexpected(bad(r.at("tenant"), "must be a string").error());
    m.tenant = t->get_string();
    CITYROOM_TRY(check_tenant(m.tenant, r.at("tenant")));
  }
  if (const auto* c = r.get("@context")) {
    CITYROOM_TRY(check_context(*c, r.at("@context")));
    m.context = *c;
  }
  if (mode == "ngsi-ld") {
    m.mode = PayloadMode::kNgsiLd;
  } else if (mode == "fields") {
    m.mode = PayloadMode::kFields;
    CITYROOM_TRY(parse_fields_mode(r, m));
  } else {
    return std::unexpected(
        bad(r.at("mode"), fmt::format("'{}' is not \"ngsi-ld\" or \"fields\"", mode)).error());
  }
  CITYROOM_TRY(r.no_unknown());
  return m;
}

}  // namespace

base::Result<Config> parse_mqtt_config(const json::value& doc) {
  if (!doc.is_object()) {
    return base::fail(
        ErrorKind::kInvalidRequest,
        fmt::format("the config must be a JSON object, not {}", json::kind_name(doc)));
  }
  Reader r(doc.get_object(), "");
  Config c;
  c.broker.client_id = kClientIdDefault;
  c.broker.thread_name = "mqtt-ingest";
  if (const auto* b = r.get("broker")) {
    auto broker = parse_broker(*b);
    if (!broker) return std::unexpected(broker.error());
    c.broker = std::move(*broker);
  }
  CITYROOM_TRY(r.string("deadLetterTopic", c.dead_letter_topic));
  if (auto ok = mqtt::check_topic(c.dead_letter_topic); !ok) {
    return std::unexpected(bad("deadLetterTopic", ok.error().detail).error());
  }
  CITYROOM_TRY(r.integer("inFlightMax", c.in_flight_max, 1, kInFlightMaxLimit));
  if (const auto* ctx = r.get("@context")) {
    CITYROOM_TRY(check_context(*ctx, "@context"));
    c.context = *ctx;
  }
  const auto* mappings = r.get("mappings");
  if (!mappings || !mappings->is_array() || mappings->get_array().empty()) {
    return std::unexpected(bad("mappings", "must be a non-empty array of mappings").error());
  }
  if (mappings->get_array().size() > kMappingsMax) {
    return std::unexpected(bad("mappings", fmt::format("has more than {}", kMappingsMax)).error());
  }
  CITYROOM_TRY(r.no_unknown());
  std::set<std::string, std::less<>> names;
  for (std::size_t i = 0; i < mappings->get_array().size(); ++i) {
    auto m = parse_mapping(mappings->get_array()[i], i);
    if (!m) return std::unexpected(m.error());
    if (!names.insert(m->name).second) {
      return std::unexpected(
          bad(fmt::format("mappings[{}].name", i), fmt::format("'{}' is used twice", m->name))
              .error());
    }
    if (mqtt::match_topic(m->topic, c.dead_letter_topic)) {
      return std::unexpected(
          bad(fmt::format("mappings[{}].topic", i),
              fmt::format("'{}' matches the dead-letter topic '{}': rejected messages would come "
                          "back forever",
                          m->topic, c.dead_letter_topic))
              .error());
    }
    c.mappings.push_back(std::move(*m));
  }
  return c;
}

base::Result<Config> load_mqtt_config(const std::filesystem::path& path) {
  auto with_file = [&](const base::Error& e) {
    return base::fail(ErrorKind::kInvalidRequest, fmt::format("{}: {}", path.string(), e.detail));
  };
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return base::fail(ErrorKind::kInvalidRequest,
                      fmt::format("{}: cannot read the MQTT config file", path.string()));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > kConfigBytesMax) {
    return base::fail(ErrorKind::kInvalidRequest,
                      fmt::format("{}: larger than {} bytes", path.string(), kConfigBytesMax));
  }
  auto doc = json::parse(text.str());
  if (!doc) return with_file(doc.error());
  auto config = parse_mqtt_config(*doc);
  if (!config) return with_file(config.error());
  return config;
}

}  // namespace cityroom::ingest
