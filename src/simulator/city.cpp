// Reading the city from the hub, and routing on its road links.
#include "simulator/city.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <queue>

#include "model/model.h"

namespace cityroom::simulator {
namespace {

using base::ErrorKind;

constexpr double kEarthRadiusM = 6'371'000;
constexpr std::size_t kPageSize = 1000;
constexpr double kJoinM = 30;
constexpr std::size_t kConnector = static_cast<std::size_t>(-1);  // Edge::road of a connector

constexpr std::array<std::string_view, 5> kContextUrls = {
    "",  // core
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Transportation/master/context.jsonld",
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/context.jsonld",
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Weather/master/context.jsonld",
    "https://raw.githubusercontent.com/smart-data-models/dataModel.PointOfInterest/master/context.jsonld",
};

const json::value* value_of(const model::Entity& e, const std::string& iri) {
  const auto* instances = e.if_contains(iri);
  if (!instances || !instances->is_array() || instances->as_array().empty()) return nullptr;
  const auto& first = instances->as_array().front();
  if (!first.is_object()) return nullptr;
  const auto& inst = first.as_object();
  for (std::string_view member : {"value", "object", "vocab", "json", "valueList"}) {
    if (const auto* v = inst.if_contains(member)) return v;
  }
  if (const auto* lm = inst.if_contains("languageMap"); lm && lm->is_object()) {
    const auto& map = lm->as_object();
    if (const auto* ko = map.if_contains("ko")) return ko;
    if (!map.empty()) return &map.begin()->value();
  }
  return nullptr;
}

std::string string_of(const model::Entity& e, const std::string& iri) {
  const auto* v = value_of(e, iri);
  if (v && v->is_string()) return std::string(v->get_string());
  return {};
}

std::optional<double> number_of(const json::value& v) {
  if (v.is_double()) return v.get_double();
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  if (v.is_string()) {
    try {
      return std::stod(std::string(v.get_string()));
    } catch (...) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

// Every position of a GeoJSON geometry, in order.
void positions(const json::value& coords, std::vector<LonLat>& out) {
  if (!coords.is_array()) return;
  const auto& a = coords.as_array();
  if (a.size() >= 2 && !a[0].is_array()) {
    auto lon = number_of(a[0]);
    auto lat = number_of(a[1]);
    if (lon && lat) out.push_back({*lon, *lat});
    return;
  }
  for (const auto& c : a) positions(c, out);
}

std::vector<LonLat> geometry_of(const model::Entity& e, const std::string& location_iri) {
  std::vector<LonLat> out;
  const auto* g = value_of(e, location_iri);
  if (g && g->is_object()) {
    if (const auto* c = g->as_object().if_contains("coordinates")) positions(*c, out);
  }
  return out;
}

LonLat centre_of(const std::vector<LonLat>& ps) {
  LonLat c;
  for (const auto& p : ps) {
    c.lon += p.lon;
    c.lat += p.lat;
  }
  if (!ps.empty()) {
    c.lon /= static_cast<double>(ps.size());
    c.lat /= static_cast<double>(ps.size());
  }
  return c;
}

std::vector<std::string> scope_of(const model::Entity& e) {
  std::vector<std::string> out;
  if (const auto* s = e.if_contains(model::key::kScope); s && s->is_array()) {
    for (const auto& v : s->as_array()) {
      if (v.is_string()) out.emplace_back(v.get_string());
    }
  }
  return out;
}

bool has_word(const json::value* v, std::initializer_list<std::string_view> words) {
  if (!v) return false;
  auto matches = [&](const json::value& x) {
    if (!x.is_string()) return false;
    std::string_view s = x.get_string();
    if (const auto slash = s.find_last_of("/#"); slash != std::string_view::npos) {
      s = s.substr(slash + 1);  // an expanded vocab value
    }
    return std::ranges::find(words, s) != words.end();
  };
  if (v->is_array()) return std::ranges::any_of(v->as_array(), matches);
  return matches(*v);
}

base::Result<std::vector<model::Entity>> all_of_type(hub::Hub& hub, std::string_view tenant,
                                                     std::vector<std::string> types) {
  std::ranges::sort(types);
  types.erase(std::unique(types.begin(), types.end()), types.end());
  std::vector<model::Entity> out;
  store::EntityQuery q;
  q.any_of_types = std::move(types);
  q.limit = kPageSize;
  for (;;) {
    auto page = hub.query(tenant, q);
    if (!page) return std::unexpected(page.error());
    const auto n = page->entities.size();
    for (auto& e : page->entities) out.push_back(std::move(e));
    if (n < kPageSize) break;
    q.offset += n;
  }
  return out;
}

// Streams of Seoul: a bridge or node name that holds one names the stream it crosses.
constexpr std::string_view kStreams[] = {
    "탄천", "양재천", "중랑천", "우이천", "방학천", "도봉천", "세곡천", "여의천", "안양천", "홍제천",
    "불광천", "청계천", "도림천", "정릉천", "성북천", "당현천", "묵동천", "고덕천", "성내천", "반포천"};

// Known crossings whose name does not hold the river's: the Han's bridges, and stream bridges
// by name (with the road where another bridge elsewhere has the same name: Gwanak's 삼성교
// crosses the Dorimcheon, Gangnam's on 올림픽로 the Tancheon).
struct KnownCrossing {
  std::string_view bridge, road, river;
};
constexpr KnownCrossing kKnownCrossings[] = {
    {"행주대교", "", "한강"},   {"방화대교", "", "한강"},   {"가양대교", "", "한강"},
    {"월드컵대교", "", "한강"}, {"성산대교", "", "한강"},   {"양화대교", "", "한강"},
    {"서강대교", "", "한강"},   {"마포대교", "", "한강"},   {"원효대교", "", "한강"},
    {"한강대교", "", "한강"},   {"동작대교", "", "한강"},   {"반포대교", "", "한강"},
    {"잠수교", "", "한강"},     {"한남대교", "", "한강"},   {"동호대교", "", "한강"},
    {"성수대교", "", "한강"},   {"영동대교", "", "한강"},   {"청담대교", "", "한강"},
    {"잠실대교", "", "한강"},   {"올림픽대교", "", "한강"}, {"천호대교", "", "한강"},
    {"광진교", "", "한강"},     {"강동대교", "", "한강"},   {"암사대교", "", "한강"},
    {"삼성교", "올림픽로", "탄천"}, {"봉은교", "", "탄천"},  {"대치교", "", "양재천"},
    {"영동1교", "", "양재천"},  {"영동2교", "", "양재천"},  {"영동3교", "", "양재천"},
    {"영동4교", "", "양재천"},  {"영동5교", "", "양재천"},  {"영동6교", "", "양재천"},
};

// "탄천2고가교(남단)" → "탄천2고가교": a node's name without the side of the bridge it is on.
std::string without_side(std::string_view name) {
  if (const auto paren = name.find('('); paren != std::string_view::npos) name = name.substr(0, paren);
  for (std::string_view side : {"남단", "북단", "동단", "서단", "남측", "북측", "동측", "서측"}) {
    if (name.ends_with(side)) name.remove_suffix(side.size());
  }
  return std::string(name);
}

double line_length(const std::vector<LonLat>& line) {
  double m = 0;
  for (std::size_t i = 1; i < line.size(); ++i) m += distance_m(line[i - 1], line[i]);
  return m;
}

}  // namespace

std::optional<Crossing> crossing_of(std::string_view bridge_name, std::string_view road_name,
                                    const std::vector<std::string>& node_names) {
  for (const auto& k : kKnownCrossings) {
    if (bridge_name.find(k.bridge) != std::string_view::npos &&
        (k.road.empty() || road_name == k.road)) {
      return Crossing{std::string(k.river), std::string(k.bridge)};
    }
  }
  for (const auto stream : kStreams) {
    if (bridge_name.find(stream) != std::string_view::npos) {
      return Crossing{std::string(stream), std::string(bridge_name)};
    }
  }
  for (const auto& node : node_names) {
    for (const auto stream : kStreams) {
      if (node.find(stream) != std::string::npos) {
        return Crossing{std::string(stream), without_side(node)};
      }
    }
  }
  return std::nullopt;
}

double distance_m(LonLat a, LonLat b) {
  constexpr double rad = std::numbers::pi / 180;
  const double x = (b.lon - a.lon) * rad * std::cos((a.lat + b.lat) * 0.5 * rad);
  const double y = (b.lat - a.lat) * rad;
  return std::sqrt(x * x + y * y) * kEarthRadiusM;
}

double bearing_deg(LonLat a, LonLat b) {
  constexpr double rad = std::numbers::pi / 180;
  const double x = (b.lon - a.lon) * std::cos((a.lat + b.lat) * 0.5 * rad);
  const double y = b.lat - a.lat;
  if (x == 0 && y == 0) return 0;
  double deg = std::atan2(x, y) / rad;
  if (deg < 0) deg += 360;
  return deg;
}

void City::build_graph() {
  nodes.clear();
  adjacency.clear();
  std::unordered_map<std::string, std::size_t> index;
  auto node = [&](const std::string& key, LonLat at) {
    auto [it, fresh] = index.emplace(key, nodes.size());
    if (fresh) {
      nodes.push_back(at);
      adjacency.emplace_back();
    }
    return it->second;
  };
  for (std::size_t i = 0; i < roads.size(); ++i) {
    const auto& r = roads[i];
    if (r.line.size() < 2) continue;
    // Links without node ids still join where their ends coincide.
    const auto a = node(r.start_node.empty() ? fmt::format("{:.5f},{:.5f}", r.line.front().lon,
                                                           r.line.front().lat)
                                             : r.start_node,
                        r.line.front());
    const auto b = node(r.end_node.empty()
                            ? fmt::format("{:.5f},{:.5f}", r.line.back().lon, r.line.back().lat)
                            : r.end_node,
                        r.line.back());
    adjacency[a].push_back({i, b, true});
    adjacency[b].push_back({i, a, false});
  }
  // Two networks of the same streets (KTDB and ITS links) share no node ids: ends closer than
  // kJoinM are joined by a short connector, so a route may use both.
  for (std::size_t a = 0; a < nodes.size(); ++a) {
    for (std::size_t b = a + 1; b < nodes.size(); ++b) {
      if (std::abs(nodes[a].lat - nodes[b].lat) > 0.0005) continue;
      if (distance_m(nodes[a], nodes[b]) < kJoinM) {
        adjacency[a].push_back({kConnector, b, true});
        adjacency[b].push_back({kConnector, a, true});
      }
    }
  }
}

std::optional<std::size_t> City::nearest_node(LonLat p) const {
  std::optional<std::size_t> best;
  double best_d = std::numeric_limits<double>::max();
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const double d = distance_m(p, nodes[i]);
    if (d < best_d) {
      best_d = d;
      best = i;
    }
  }
  return best;
}

std::size_t City::nearest_dong(LonLat p) const {
  std::size_t best = 0;
  double best_d = std::numeric_limits<double>::max();
  for (std::size_t i = 0; i < dongs.size(); ++i) {
    const double d = distance_m(p, dongs[i].centre);
    if (d < best_d) {
      best_d = d;
      best = i;
    }
  }
  return best;
}

std::vector<LonLat> City::route(LonLat a, LonLat b) const {
  std::vector<LonLat> path{a};
  const auto from = nearest_node(a);
  const auto to = nearest_node(b);
  if (from && to && *from != *to) {
    // Dijkstra over link lengths; ties broken by node index, so routes are deterministic.
    const std::size_t n = nodes.size();
    std::vector<double> dist(n, std::numeric_limits<double>::max());
    std::vector<std::optional<Edge>> via(n);
    using Item = std::pair<double, std::size_t>;
    std::priority_queue<Item, std::vector<Item>, std::greater<>> open;
    dist[*from] = 0;
    open.push({0, *from});
    while (!open.empty()) {
      const auto [d, u] = open.top();
      open.pop();
      if (d > dist[u]) continue;
      if (u == *to) break;
      for (const auto& e : adjacency[u]) {
        double len = distance_m(nodes[u], nodes[e.to]);
        if (e.road != kConnector) {
          const auto& line = roads[e.road].line;
          len = 0;
          for (std::size_t k = 1; k < line.size(); ++k) len += distance_m(line[k - 1], line[k]);
        }
        if (d + len < dist[e.to]) {
          dist[e.to] = d + len;
          via[e.to] = Edge{e.road, u, e.forward};  // `to` here holds the previous node
          open.push({d + len, e.to});
        }
      }
    }
    if (via[*to]) {
      std::vector<Edge> legs;
      for (std::size_t v = *to; v != *from; v = via[v]->to) legs.push_back(*via[v]);
      std::ranges::reverse(legs);
      for (const auto& leg : legs) {
        if (leg.road == kConnector) continue;  // the next leg starts a few metres away
        const auto& line = roads[leg.road].line;
        if (leg.forward) {
          path.insert(path.end(), line.begin(), line.end());
        } else {
          path.insert(path.end(), line.rbegin(), line.rend());
        }
      }
    }
  }
  path.push_back(b);
  return path;
}

base::Result<Names> Names::open(ldcontext::ContextStore& contexts) {
  Names n;
  for (std::size_t i = 0; i < kContextUrls.size(); ++i) {
    if (kContextUrls[i].empty()) {
      n.ctx_[i] = contexts.core();
      continue;
    }
    auto ctx = contexts.resolve_url(kContextUrls[i]);
    // A server without the shipped contexts still simulates, with core-context names.
    n.ctx_[i] = ctx ? *ctx : contexts.core();
  }
  return n;
}

const std::string& Names::get(Ctx ctx, std::string_view term) {
  auto& cache = cache_[static_cast<std::size_t>(ctx)];
  auto it = cache.find(std::string(term));
  if (it == cache.end()) {
    it = cache.emplace(std::string(term), ctx_[static_cast<std::size_t>(ctx)]->expand(term)).first;
  }
  return it->second;
}

base::Result<City> load_city(hub::Hub& hub, Names& names, std::string_view tenant) {
  using C = Names::Ctx;
  City city;
  const std::string location = names.get(C::kCore, "location");
  const std::string name = names.get(C::kCore, "name");

  auto areas = all_of_type(hub, tenant, {names.get(C::kCore, "AdministrativeArea")});
  if (!areas) return std::unexpected(areas.error());
  const std::string level = names.get(C::kCore, "adminLevel");
  for (const auto& e : *areas) {
    const auto lv = string_of(e, level);
    const auto geometry = geometry_of(e, location);
    if (lv == "gu") {
      city.name = string_of(e, name);
      continue;
    }
    if (lv != "dong" || geometry.empty()) continue;
    city.dongs.push_back({std::string(e.at("id").get_string()), string_of(e, name),
                          centre_of(geometry), scope_of(e)});
  }

  auto roads = all_of_type(hub, tenant, {names.get(C::kTransportation, "RoadSegment"),
                                         names.get(C::kCore, "RoadSegment")});
  if (!roads) return std::unexpected(roads.error());
  std::vector<bool> profiled;
  for (const auto& e : *roads) {
    // Attributes of either context: an import without the SDM context still works.
    auto attr = [&](std::string_view term) -> const json::value* {
      if (const auto* v = value_of(e, names.get(C::kTransportation, term))) return v;
      return value_of(e, names.get(C::kCore, term));
    };
    Road r;
    r.id = std::string(e.at("id").get_string());
    r.line = geometry_of(e, location);
    if (r.line.size() < 2) continue;
    if (const auto* v = attr("name"); v && v->is_string()) r.name = std::string(v->get_string());
    if (const auto* v = attr("startNode"); v && v->is_string()) r.start_node = std::string(v->get_string());
    if (const auto* v = attr("endNode"); v && v->is_string()) r.end_node = std::string(v->get_string());
    if (const auto* v = attr("roadRank")) {
      if (auto n = number_of(*v)) r.rank = static_cast<int>(*n);
    }
    if (const auto* v = attr("speedHourly"); v && v->is_array() && v->as_array().size() == 24) {
      for (std::size_t h = 0; h < 24; ++h) {
        r.speed_hourly[h] = number_of(v->as_array()[h]).value_or(0);
      }
    }
    profiled.push_back(r.speed_hourly[0] > 0);
    double day = 0;
    if (const auto* v = attr("averageSpeedWeekday")) day = number_of(*v).value_or(0);
    // A link without a profile gets a flat one from its daily average (or 30 km/h).
    if (std::ranges::all_of(r.speed_hourly, [](double s) { return s <= 0; })) {
      r.speed_hourly.fill(day > 0 ? day : 30);
    }
    r.free_speed = std::ranges::max(r.speed_hourly);
    r.scope = scope_of(e);
    city.roads.push_back(std::move(r));
  }
  // Links with a measured hourly profile are the traffic network (the KTDB links); other road
  // links of the same streets (ITS links) would only double them with made-up speeds.
  if (std::ranges::find(profiled, true) != profiled.end()) {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < city.roads.size(); ++i) {
      if (!profiled[i]) continue;
      if (kept != i) city.roads[kept] = std::move(city.roads[i]);
      ++kept;
    }
    city.roads.resize(kept);
  }

  auto bridges = all_of_type(hub, tenant, {names.get(C::kCore, "Bridge")});
  std::vector<double> gauge_length;  // per gauge: the length of the link that carries it
  if (!bridges) return std::unexpected(bridges.error());
  for (const auto& e : *bridges) {
    const auto g = geometry_of(e, location);
    if (g.empty()) continue;
    const std::string id(e.at("id").get_string());
    const std::string own_name = string_of(e, name);
    const std::string road_name = string_of(e, names.get(C::kCore, "roadName"));
    std::string bridge_name = own_name.empty() ? road_name : own_name;
    if (bridge_name.empty()) bridge_name = id;
    city.facilities.push_back(
        {Facility::Kind::kBridge, id, bridge_name, centre_of(g), 0, scope_of(e)});
    // A gauge where the bridge's names say which river it crosses; the links of both
    // directions (and the approaches named after the bridge) are one place: the shortest link,
    // the one most nearly the bridge itself, carries it.
    const auto crossing = crossing_of(own_name, road_name,
                                      {string_of(e, names.get(C::kCore, "startNodeName")),
                                       string_of(e, names.get(C::kCore, "endNodeName"))});
    if (!crossing) continue;
    const double length = line_length(g);
    auto same = std::ranges::find_if(city.gauges, [&](const Gauge& x) {
      return x.river == crossing->river && x.name == crossing->bridge;
    });
    if (same != city.gauges.end()) {
      if (length < gauge_length[static_cast<std::size_t>(same - city.gauges.begin())]) {
        gauge_length[static_cast<std::size_t>(same - city.gauges.begin())] = length;
        same->bridge = id;
        same->at = centre_of(g);
        same->scope = scope_of(e);
      }
      continue;
    }
    gauge_length.push_back(length);
    city.gauges.push_back({{}, crossing->bridge, crossing->river, id, centre_of(g),
                           crossing->river == "한강", scope_of(e)});
  }
  for (auto& gauge : city.gauges) {
    constexpr std::string_view prefix = "urn:ngsi-ld:";
    std::string_view key = gauge.bridge;
    if (key.starts_with(prefix)) key.remove_prefix(prefix.size());
    gauge.id = fmt::format("urn:ngsi-ld:FloodMonitoring:{}", key);
  }
  auto pois = all_of_type(hub, tenant, {names.get(C::kPointOfInterest, "PointOfInterest"),
                                        names.get(C::kCore, "PointOfInterest")});
  if (!pois) return std::unexpected(pois.error());
  for (const auto& e : *pois) {
    const auto g = geometry_of(e, location);
    if (g.empty()) continue;
    const auto* category = value_of(e, names.get(C::kPointOfInterest, "category"));
    if (!category) category = value_of(e, names.get(C::kCore, "category"));
    std::string poi_name = string_of(e, names.get(C::kPointOfInterest, "name"));
    if (poi_name.empty()) poi_name = string_of(e, name);
    if (has_word(category, {"traditionalMarket", "traditional_market"})) {
      city.facilities.push_back({Facility::Kind::kMarket, std::string(e.at("id").get_string()),
                                 poi_name, centre_of(g), 0, scope_of(e)});
    } else if (has_word(category, {"emergencyRoom", "emergency_medical"})) {
      city.hospitals.push_back({std::string(e.at("id").get_string()), poi_name, centre_of(g)});
    }
  }

  // Entities come in id order from the store; keep that order (determinism rests on it).
  for (auto& r : city.roads) r.dong = city.nearest_dong(centre_of(r.line));
  for (auto& f : city.facilities) f.dong = city.nearest_dong(f.at);
  city.build_graph();
  return city;
}

}  // namespace cityroom::simulator
