#include "live/subscription.h"

#include <algorithm>
#include <array>
#include <cmath>

#include <fmt/format.h>

namespace cityroom::live {
namespace {

using base::ErrorKind;

constexpr std::array<std::pair<std::string_view, Trigger>, 6> kTriggers = {{
    {"entityCreated", Trigger::kEntityCreated},
    {"entityUpdated", Trigger::kEntityUpdated},
    {"entityDeleted", Trigger::kEntityDeleted},
    {"attributeCreated", Trigger::kAttributeCreated},
    {"attributeUpdated", Trigger::kAttributeUpdated},
    {"attributeDeleted", Trigger::kAttributeDeleted},
}};

std::unexpected<base::Error> bad(std::string detail) {
  return base::fail(ErrorKind::kBadRequestData, std::move(detail));
}

std::string_view trigger_name(Trigger t) {
  for (const auto& [name, value] : kTriggers) {
    if (value == t) return name;
  }
  return "";
}

base::Result<std::string> string_member(const json::value& v, std::string_view name) {
  if (!v.is_string()) return bad(fmt::format("{} must be a string", name));
  return std::string(v.get_string());
}

base::Result<std::vector<std::string>> string_list(const json::value& v, std::string_view name) {
  if (!v.is_array()) return bad(fmt::format("{} must be an array of strings", name));
  std::vector<std::string> out;
  for (const auto& item : v.get_array()) {
    if (!item.is_string() || item.get_string().empty()) {
      return bad(fmt::format("{} must be an array of non-empty strings", name));
    }
    out.emplace_back(item.get_string());
  }
  return out;
}

base::Result<double> seconds(const json::value& v, std::string_view name, bool zero_ok) {
  if (!v.is_number()) return bad(fmt::format("{} must be a number of seconds", name));
  const double s = v.to_number<double>();
  if (!std::isfinite(s) || s < 0 || (!zero_ok && s == 0)) {
    return bad(fmt::format("{} must be a {} number of seconds", name,
                           zero_ok ? "non-negative" : "positive"));
  }
  return s;
}

base::Result<std::vector<std::pair<std::string, std::string>>> key_values(const json::value& v,
                                                                          std::string_view name) {
  if (!v.is_array()) return bad(fmt::format("{} must be an array of {{key, value}}", name));
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& item : v.get_array()) {
    const auto* o = item.if_object();
    const auto* k = o ? o->if_contains("key") : nullptr;
    const auto* val = o ? o->if_contains("value") : nullptr;
    if (!k || !val || !k->is_string() || !val->is_string() || k->get_string().empty()) {
      return bad(fmt::format("{} entries must be {{\"key\": string, \"value\": string}}", name));
    }
    out.emplace_back(std::string(k->get_string()), std::string(val->get_string()));
  }
  return out;
}

base::Result<void> parse_entities(const json::value& v, Subscription& s) {
  if (!v.is_array() || v.get_array().empty()) {
    return bad("entities must be a non-empty array of entity selectors");
  }
  s.selector.entities.clear();
  for (const auto& item : v.get_array()) {
    const auto* o = item.if_object();
    if (!o) return bad("entities: each entity selector must be an object");
    SelectorTerms::Entities e;
    for (const auto& [key, value] : *o) {
      if (key == "id") {
        auto id = string_member(value, "entities[].id");
        if (!id) return std::unexpected(id.error());
        if (!base::is_uri(*id)) return bad(fmt::format("entities[].id: '{}' is not a URI", *id));
        e.id = std::move(*id);
      } else if (key == "idPattern") {
        auto p = string_member(value, "entities[].idPattern");
        if (!p) return std::unexpected(p.error());
        e.id_pattern = std::move(*p);
      } else if (key == "type") {
        auto t = string_member(value, "entities[].type");
        if (!t) return std::unexpected(t.error());
        e.type = std::move(*t);
      } else {
        return bad(fmt::format("entities: unknown member '{}' in an entity selector", key));
      }
    }
    if (e.type.empty()) return bad("entities: every entity selector needs a type");
    s.selector.entities.push_back(std::move(e));
  }
  return {};
}

base::Result<void> parse_endpoint(const json::object& o, Subscription& s) {
  for (const auto& [key, value] : o) {
    if (key == "uri") {
      auto uri = string_member(value, "notification.endpoint.uri");
      if (!uri) return std::unexpected(uri.error());
      if (!base::is_uri(*uri)) {
        return bad(fmt::format("notification.endpoint.uri: '{}' is not a URI", *uri));
      }
      s.endpoint_uri = std::move(*uri);
    } else if (key == "accept") {
      auto accept = string_member(value, "notification.endpoint.accept");
      if (!accept) return std::unexpected(accept.error());
      if (*accept != "application/json" && *accept != "application/ld+json") {
        return bad(fmt::format("notification.endpoint.accept: '{}' is not application/json or "
                               "application/ld+json",
                               *accept));
      }
      s.endpoint_accept = std::move(*accept);
    } else if (key == "receiverInfo") {
      auto kv = key_values(value, "notification.endpoint.receiverInfo");
      if (!kv) return std::unexpected(kv.error());
      s.receiver_info = std::move(*kv);
    } else if (key == "notifierInfo") {
      auto kv = key_values(value, "notification.endpoint.notifierInfo");
      if (!kv) return std::unexpected(kv.error());
      s.notifier_info = std::move(*kv);
    }
  }
  return {};
}

// Status members of "notification" are read-only: accepted and ignored on input.
bool is_status_member(std::string_view key) {
  return key == "status" || key == "timesSent" || key == "timesFailed" ||
         key == "lastNotification" || key == "lastFailure" || key == "lastSuccess" ||
         key == "timesDropped" || key == "lastFailureReason";
}

base::Result<void> parse_notification(const json::object& o, Subscription& s) {
  for (const auto& [key, value] : o) {
    if (key == "attributes") {
      auto list = string_list(value, "notification.attributes");
      if (!list) return std::unexpected(list.error());
      s.notify_attributes = std::move(*list);
    } else if (key == "format") {
      auto f = string_member(value, "notification.format");
      if (!f) return std::unexpected(f.error());
      if (*f == "normalized") {
        s.format = model::Format::kNormalized;
      } else if (*f == "keyValues" || *f == "simplified") {
        s.format = model::Format::kKeyValues;
      } else if (*f == "concise") {
        s.format = model::Format::kConcise;
      } else {
        return bad(fmt::format("notification.format: '{}' is not normalized, concise or "
                               "keyValues",
                               *f));
      }
    } else if (key == "sysAttrs") {
      if (!value.is_bool()) return bad("notification.sysAttrs must be true or false");
      s.sys_attrs = value.get_bool();
    } else if (key == "endpoint") {
      if (!value.is_object()) return bad("notification.endpoint must be an object");
      if (auto r = parse_endpoint(value.get_object(), s); !r) return r;
    } else if (key == "showChanges") {
      if (!value.is_bool()) return bad("notification.showChanges must be true or false");
    } else if (!is_status_member(key)) {
      return bad(fmt::format("notification: unknown member '{}'", key));
    }
  }
  return {};
}

// Applies every member of `body` to `s` (creation and PATCH share this).
base::Result<void> apply_members(const json::object& body, Subscription& s, base::Micros now) {
  for (const auto& [key, value] : body) {
    if (key == "id" || key == "@context") continue;  // handled by the callers
    if (key == "type") {
      if (!value.is_string() || value.get_string() != "Subscription") {
        return bad("type must be \"Subscription\"");
      }
    } else if (key == "subscriptionName" || key == "name") {
      auto n = string_member(value, "subscriptionName");
      if (!n) return std::unexpected(n.error());
      s.name = std::move(*n);
    } else if (key == "description") {
      auto d = string_member(value, "description");
      if (!d) return std::unexpected(d.error());
      s.description = std::move(*d);
    } else if (key == "entities") {
      if (auto r = parse_entities(value, s); !r) return r;
    } else if (key == "watchedAttributes") {
      auto list = string_list(value, "watchedAttributes");
      if (!list) return std::unexpected(list.error());
      if (list->empty()) return bad("watchedAttributes must not be empty when given");
      s.watched_attributes = std::move(*list);
    } else if (key == "notificationTrigger") {
      auto list = string_list(value, "notificationTrigger");
      if (!list) return std::unexpected(list.error());
      if (list->empty()) return bad("notificationTrigger must not be empty when given");
      s.triggers.clear();
      for (const auto& name : *list) {
        const auto* found = std::find_if(kTriggers.begin(), kTriggers.end(),
                                         [&](const auto& t) { return t.first == name; });
        if (found == kTriggers.end()) {
          return bad(fmt::format("notificationTrigger: unknown trigger '{}'", name));
        }
        s.triggers.insert(found->second);
      }
    } else if (key == "timeInterval") {
      auto t = seconds(value, "timeInterval", false);
      if (!t) return std::unexpected(t.error());
      s.time_interval_s = *t;
    } else if (key == "throttling") {
      auto t = seconds(value, "throttling", true);
      if (!t) return std::unexpected(t.error());
      s.throttling_s = *t;
    } else if (key == "q") {
      auto q = string_member(value, "q");
      if (!q) return std::unexpected(q.error());
      s.selector.q = std::move(*q);
    } else if (key == "scopeQ") {
      auto q = string_member(value, "scopeQ");
      if (!q) return std::unexpected(q.error());
      s.selector.scope_q = std::move(*q);
    } else if (key == "geoQ") {
      if (!value.is_object()) return bad("geoQ must be an object");
      auto g = geo::parse_geoquery(value.get_object());
      if (!g) return bad(fmt::format("geoQ: {}", g.error().detail));
      s.selector.geo = std::move(*g);
      s.geo_q = value.get_object();
    } else if (key == "expiresAt") {
      auto text = string_member(value, "expiresAt");
      if (!text) return std::unexpected(text.error());
      auto t = base::parse_iso8601(*text);
      if (!t) return bad(fmt::format("expiresAt: '{}' is not an ISO 8601 date-time", *text));
      if (*t <= now) return bad(fmt::format("expiresAt: {} is in the past", *text));
      s.expires_at = *t;
    } else if (key == "isActive") {
      if (!value.is_bool()) return bad("isActive must be true or false");
      s.active = value.get_bool();
    } else if (key == "lang") {
      auto l = string_member(value, "lang");
      if (!l) return std::unexpected(l.error());
      s.lang = std::move(*l);
    } else if (key == "notification") {
      if (!value.is_object()) return bad("notification must be an object");
      if (auto r = parse_notification(value.get_object(), s); !r) return r;
    } else if (key == "temporalQ" || key == "csf") {
      return base::fail(ErrorKind::kOperationNotSupported,
                        fmt::format("{} is not supported by this broker", key));
    } else if (key == "status" || key == "jsonldContext" || key == "createdAt" ||
               key == "modifiedAt") {
      // read-only members, e.g. from a GET echoed back
    } else {
      return bad(fmt::format("unknown subscription member '{}'", key));
    }
  }
  return {};
}

// Whole-subscription rules, checked after creation and after every PATCH.
base::Result<void> validate(const Subscription& s, const ldcontext::Context& ctx) {
  if (s.endpoint_uri.empty()) return bad("notification.endpoint.uri is required");
  if (s.selector.entities.empty() && s.watched_attributes.empty()) {
    return bad("a subscription needs entities or watchedAttributes");
  }
  if (s.time_interval_s && !s.watched_attributes.empty()) {
    return bad("timeInterval and watchedAttributes cannot be combined");
  }
  if (s.time_interval_s && s.throttling_s) {
    return bad("timeInterval and throttling cannot be combined");
  }
  const auto scheme = s.endpoint_uri.substr(0, s.endpoint_uri.find(':'));
  if (scheme != "http" && scheme != "https" && scheme != "mqtt" && scheme != "mqtts") {
    return bad(fmt::format("notification.endpoint.uri: scheme '{}' is not http, https or mqtt",
                           scheme));
  }
  auto compiled = compile(s, ctx);
  if (!compiled) return std::unexpected(compiled.error());
  return {};
}

json::value key_values_json(const std::vector<std::pair<std::string, std::string>>& kv) {
  json::array out;
  for (const auto& [k, v] : kv) out.push_back(json::object{{"key", k}, {"value", v}});
  return out;
}

std::string format_name(model::Format f) {
  switch (f) {
    case model::Format::kKeyValues: return "keyValues";
    case model::Format::kConcise: return "concise";
    case model::Format::kNormalized: break;
  }
  return "normalized";
}

// A term written with the subscription's context, shown with the reader's.
std::string recompact(std::string_view term, const ldcontext::Context& from,
                      const ldcontext::Context& to) {
  return to.compact(from.expand(term));
}

}  // namespace

std::string_view Subscription::state(base::Micros now) const {
  if (expires_at && *expires_at <= now) return "expired";
  return active ? "active" : "paused";
}

base::Result<Subscription> parse_subscription(const json::object& body, std::string tenant,
                                              const ldcontext::Context& ctx, base::Micros now) {
  Subscription s;
  s.tenant = std::move(tenant);
  if (const auto* id = body.if_contains("id")) {
    auto text = string_member(*id, "id");
    if (!text) return std::unexpected(text.error());
    if (!base::is_uri(*text)) return bad(fmt::format("id: '{}' is not a URI", *text));
    s.id = std::move(*text);
  } else {
    s.id = std::string(kSubscriptionIdPrefix) + base::random_hex(16);
  }
  if (!body.contains("type")) return bad("type is required and must be \"Subscription\"");
  s.triggers = {Trigger::kAttributeCreated, Trigger::kAttributeUpdated};
  if (auto r = apply_members(body, s, now); !r) return std::unexpected(r.error());
  if (auto r = validate(s, ctx); !r) return std::unexpected(r.error());
  s.context_source = ctx.source();
  s.created_at = s.modified_at = now;
  return s;
}

base::Result<Subscription> patch_subscription(const Subscription& current,
                                              const json::object& fragment,
                                              const ldcontext::Context& ctx, base::Micros now) {
  if (const auto* id = fragment.if_contains("id")) {
    if (!id->is_string() || id->get_string() != current.id) {
      return bad("id cannot be changed");
    }
  }
  Subscription s = current;
  if (auto r = apply_members(fragment, s, now); !r) return std::unexpected(r.error());
  // A new geoQ replaces the old one; "geoQ": null is not JSON-LD here, so no removal path.
  if (auto r = validate(s, ctx); !r) return std::unexpected(r.error());
  s.modified_at = now;
  return s;
}

base::Result<CompiledSubscription> compile(const Subscription& s, const ldcontext::Context& ctx) {
  auto selector = Selector::build(s.selector, ctx);
  if (!selector) return std::unexpected(selector.error());
  CompiledSubscription c{std::move(*selector), {}, {}};
  for (const auto& w : s.watched_attributes) c.watched.push_back(ctx.expand(w));
  std::sort(c.watched.begin(), c.watched.end());
  c.render.format = s.format;
  c.render.sys_attrs = s.sys_attrs;
  c.render.lang = s.lang;
  if (!s.notify_attributes.empty()) {
    std::set<std::string, std::less<>> keep;
    for (const auto& a : s.notify_attributes) keep.insert(ctx.expand(a));
    c.render.attrs = std::move(keep);
  }
  return c;
}

json::object render_subscription(const Subscription& s, const ldcontext::Context& own,
                                 const ldcontext::Context& ctx, base::Micros now) {
  json::object o;
  o["id"] = s.id;
  o["type"] = "Subscription";
  if (s.name) o["subscriptionName"] = *s.name;
  if (s.description) o["description"] = *s.description;
  if (!s.selector.entities.empty()) {
    json::array entities;
    for (const auto& e : s.selector.entities) {
      json::object sel;
      if (!e.id.empty()) sel["id"] = e.id;
      if (!e.id_pattern.empty()) sel["idPattern"] = e.id_pattern;
      sel["type"] = e.type;
      entities.push_back(std::move(sel));
    }
    o["entities"] = std::move(entities);
  }
  if (!s.watched_attributes.empty()) {
    json::array watched;
    for (const auto& w : s.watched_attributes) watched.push_back(json::value(recompact(w, own, ctx)));
    o["watchedAttributes"] = std::move(watched);
  }
  json::array triggers;
  for (const auto t : s.triggers) triggers.push_back(json::value(trigger_name(t)));
  o["notificationTrigger"] = std::move(triggers);
  if (s.time_interval_s) o["timeInterval"] = *s.time_interval_s;
  if (s.throttling_s) o["throttling"] = *s.throttling_s;
  if (!s.selector.q.empty()) o["q"] = s.selector.q;
  if (!s.selector.scope_q.empty()) o["scopeQ"] = s.selector.scope_q;
  if (s.geo_q) o["geoQ"] = *s.geo_q;
  if (s.lang) o["lang"] = *s.lang;
  if (s.expires_at) o["expiresAt"] = base::format_iso8601(*s.expires_at);
  o["isActive"] = s.active;
  o["status"] = s.state(now);

  json::object endpoint{{"uri", s.endpoint_uri}, {"accept", s.endpoint_accept}};
  if (!s.receiver_info.empty()) endpoint["receiverInfo"] = key_values_json(s.receiver_info);
  if (!s.notifier_info.empty()) endpoint["notifierInfo"] = key_values_json(s.notifier_info);
  json::object notification;
  if (!s.notify_attributes.empty()) {
    json::array attrs;
    for (const auto& a : s.notify_attributes) attrs.push_back(json::value(a));
    notification["attributes"] = std::move(attrs);
  }
  notification["format"] = format_name(s.format);
  if (s.sys_attrs) notification["sysAttrs"] = true;
  notification["endpoint"] = std::move(endpoint);
  notification["status"] =
      s.status.last_failure && (!s.status.last_success || *s.status.last_failure > *s.status.last_success)
          ? "failed"
          : "ok";
  notification["timesSent"] = s.status.times_sent;
  notification["timesFailed"] = s.status.times_failed;
  if (s.status.dropped) notification["timesDropped"] = s.status.dropped;
  if (s.status.last_notification) {
    notification["lastNotification"] = base::format_iso8601(*s.status.last_notification);
  }
  if (s.status.last_success) notification["lastSuccess"] = base::format_iso8601(*s.status.last_success);
  if (s.status.last_failure) {
    notification["lastFailure"] = base::format_iso8601(*s.status.last_failure);
    if (!s.status.last_failure_reason.empty()) {
      notification["lastFailureReason"] = s.status.last_failure_reason;
    }
  }
  o["notification"] = std::move(notification);
  if (s.context_source.is_string()) o["jsonldContext"] = s.context_source;
  o["createdAt"] = base::format_iso8601(s.created_at);
  o["modifiedAt"] = base::format_iso8601(s.modified_at);
  return o;
}

std::string to_record(const Subscription& s, const ldcontext::Context& own) {
  json::object status{{"timesSent", s.status.times_sent},
                      {"timesFailed", s.status.times_failed},
                      {"dropped", s.status.dropped}};
  auto put_time = [&](std::string_view name, const std::optional<base::Micros>& t) {
    if (t) status[name] = *t;
  };
  put_time("lastNotification", s.status.last_notification);
  put_time("lastSuccess", s.status.last_success);
  put_time("lastFailure", s.status.last_failure);
  if (!s.status.last_failure_reason.empty()) status["lastFailureReason"] = s.status.last_failure_reason;
  json::object record{{"definition", render_subscription(s, own, own, 0)},
                      {"context", s.context_source},
                      {"status", std::move(status)},
                      {"createdAt", s.created_at},
                      {"modifiedAt", s.modified_at}};
  if (!s.owner.empty()) record["owner"] = s.owner;
  if (!s.owner_scope.empty()) record["ownerScope"] = s.owner_scope;
  return json::serialize(record);
}

json::value record_context(std::string_view doc) {
  auto parsed = json::parse(doc);
  if (!parsed || !parsed->is_object()) return nullptr;
  const auto* c = parsed->get_object().if_contains("context");
  return c ? *c : json::value(nullptr);
}

base::Result<Subscription> from_record(std::string_view doc, std::string tenant,
                                       const ldcontext::Context& own) {
  auto parsed = json::parse(doc);
  if (!parsed || !parsed->is_object()) {
    return base::fail(ErrorKind::kInternalError, "stored subscription is not a JSON object");
  }
  const auto& record = parsed->get_object();
  const auto* definition = record.if_contains("definition");
  if (!definition || !definition->is_object()) {
    return base::fail(ErrorKind::kInternalError, "stored subscription has no definition");
  }
  Subscription s;
  s.tenant = std::move(tenant);
  const auto& def = definition->get_object();
  if (const auto* id = def.if_contains("id"); id && id->is_string()) s.id = id->get_string();
  auto expires = def.if_contains("expiresAt");
  json::object members = def;
  members.erase("expiresAt");  // may lie in the past by now; restored below
  if (auto r = apply_members(members, s, 0); !r) return std::unexpected(r.error());
  if (expires && expires->is_string()) s.expires_at = base::parse_iso8601(expires->get_string());
  if (const auto* c = record.if_contains("context")) s.context_source = *c;
  auto int_of = [](const json::object& o, std::string_view name) -> std::int64_t {
    const auto* v = o.if_contains(name);
    return v && v->is_number() ? v->to_number<std::int64_t>() : 0;
  };
  if (const auto* o = record.if_contains("owner"); o && o->is_string()) s.owner = o->get_string();
  if (const auto* o = record.if_contains("ownerScope"); o && o->is_string()) {
    s.owner_scope = o->get_string();
  }
  s.created_at = int_of(record, "createdAt");
  s.modified_at = int_of(record, "modifiedAt");
  if (const auto* st = record.if_contains("status"); st && st->is_object()) {
    const auto& o = st->get_object();
    s.status.times_sent = static_cast<std::uint64_t>(int_of(o, "timesSent"));
    s.status.times_failed = static_cast<std::uint64_t>(int_of(o, "timesFailed"));
    s.status.dropped = static_cast<std::uint64_t>(int_of(o, "dropped"));
    auto time_of = [&](std::string_view name) -> std::optional<base::Micros> {
      if (!o.contains(name)) return std::nullopt;
      return int_of(o, name);
    };
    s.status.last_notification = time_of("lastNotification");
    s.status.last_success = time_of("lastSuccess");
    s.status.last_failure = time_of("lastFailure");
    if (const auto* r = o.if_contains("lastFailureReason"); r && r->is_string()) {
      s.status.last_failure_reason = r->get_string();
    }
  }
  if (auto r = validate(s, own); !r) return std::unexpected(r.error());
  return s;
}

}  // namespace cityroom::live
