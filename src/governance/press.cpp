#include "governance/press.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <array>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "governance/entity_view.h"
#include "governance/search_index.h"

namespace cityroom::governance {
namespace {

using base::ErrorKind;

constexpr std::size_t kSummaryBytesMax = 2000;

bool named(const xmlNode* n, const char* name) {
  return n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, reinterpret_cast<const xmlChar*>(name)) == 0;
}

std::string text_of(const xmlNode* n) {
  xmlChar* c = xmlNodeGetContent(n);
  std::string s = c ? reinterpret_cast<const char*>(c) : "";
  xmlFree(c);
  return s;
}

std::string attr_of(const xmlNode* n, const char* name) {
  xmlChar* c = xmlGetProp(n, reinterpret_cast<const xmlChar*>(name));
  std::string s = c ? reinterpret_cast<const char*>(c) : "";
  xmlFree(c);
  return s;
}

const xmlNode* child(const xmlNode* n, const char* name) {
  for (const xmlNode* c = n->children; c; c = c->next) {
    if (named(c, name)) return c;
  }
  return nullptr;
}

// Feed summaries are often HTML: keep the text, collapse whitespace.
std::string plain(std::string_view html) {
  std::string out;
  bool in_tag = false, space = false;
  for (char c : html) {
    if (c == '<') in_tag = true;
    else if (c == '>') { in_tag = false; space = true; }
    else if (!in_tag) {
      if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
        space = true;
      } else {
        if (space && !out.empty()) out += ' ';
        space = false;
        out += c;
      }
    }
  }
  if (out.size() > kSummaryBytesMax) {
    // Cut on a character boundary: drop a partial UTF-8 sequence at the end.
    std::size_t end = kSummaryBytesMax;
    while (end > 0 && (static_cast<unsigned char>(out[end]) & 0xC0) == 0x80) --end;
    out.resize(end);
  }
  return out;
}

std::string trimmed(std::string s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  const auto e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

std::string hash_key(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a: stable across runs and builds
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return fmt::format("{:016x}", h);
}

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string city_date(base::Micros t) {
  return base::format_iso8601(t + static_cast<base::Micros>(kCityUtcOffsetSeconds) * 1'000'000)
      .substr(0, 10);
}

}  // namespace

std::optional<base::Micros> parse_rfc822(std::string_view s) {
  // [Day, ] DD Mon YYYY HH:MM[:SS] zone
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::istringstream in{std::string(s)};
  std::vector<std::string> parts;
  for (std::string p; in >> p;) parts.push_back(p);
  if (!parts.empty() && parts[0].ends_with(",")) parts.erase(parts.begin());
  if (parts.size() < 4) return std::nullopt;
  const auto month = std::find(kMonths.begin(), kMonths.end(), parts[1]);
  if (month == kMonths.end()) return std::nullopt;
  std::string time = parts[3];
  if (time.size() == 5) time += ":00";
  const int day = std::atoi(parts[0].c_str());
  auto t = base::parse_iso8601(fmt::format("{}-{:02}-{:02}T{}Z", parts[2],
                                           (month - kMonths.begin()) + 1, day, time));
  if (!t) return std::nullopt;
  const std::string zone = parts.size() > 4 ? parts[4] : "GMT";
  int offset_min = 0;
  if (zone == "KST") {
    offset_min = 9 * 60;
  } else if ((zone[0] == '+' || zone[0] == '-') && zone.size() == 5) {
    offset_min = std::atoi(zone.substr(1, 2).c_str()) * 60 + std::atoi(zone.substr(3, 2).c_str());
    if (zone[0] == '-') offset_min = -offset_min;
  } else if (zone != "GMT" && zone != "UT" && zone != "UTC" && zone != "Z") {
    return std::nullopt;
  }
  return *t - static_cast<base::Micros>(offset_min) * 60'000'000;
}

base::Result<PressFeed> parse_feed(std::string_view xml) {
  if (xml.size() > kFeedBytesMax) {
    return base::fail(ErrorKind::kBadRequestData, "the feed is larger than 8 MiB");
  }
  // NONET: never fetch a DTD; no NOENT: entities are not expanded (no XXE, no billion laughs).
  xmlDocPtr doc = xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "feed.xml", nullptr,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (!doc) return base::fail(ErrorKind::kBadRequestData, "the feed is not well-formed XML");
  PressFeed feed;
  const xmlNode* root = xmlDocGetRootElement(doc);
  const auto finish = [&](const xmlNode* container, const char* item_name, bool atom) {
    if (const auto* t = child(container, "title")) feed.title = trimmed(text_of(t));
    for (const xmlNode* n = container->children; n; n = n->next) {
      if (!named(n, item_name)) continue;
      PressItem item;
      if (const auto* t = child(n, "title")) item.title = trimmed(text_of(t));
      if (atom) {
        for (const xmlNode* l = n->children; l; l = l->next) {
          if (named(l, "link") && (attr_of(l, "rel").empty() || attr_of(l, "rel") == "alternate")) {
            item.link = attr_of(l, "href");
            break;
          }
        }
        const auto* when = child(n, "published");
        if (!when) when = child(n, "updated");
        if (when) item.published = base::parse_iso8601(trimmed(text_of(when))).value_or(0);
        const auto* summary = child(n, "summary");
        if (!summary) summary = child(n, "content");
        if (summary) item.summary = plain(text_of(summary));
        const auto* id = child(n, "id");
        item.key = hash_key(id ? trimmed(text_of(id)) : item.link);
      } else {
        if (const auto* l = child(n, "link")) item.link = trimmed(text_of(l));
        if (const auto* d = child(n, "pubDate")) item.published = parse_rfc822(trimmed(text_of(d))).value_or(0);
        if (const auto* d = child(n, "description")) item.summary = plain(text_of(d));
        const auto* guid = child(n, "guid");
        item.key = hash_key(guid ? trimmed(text_of(guid)) : item.link);
      }
      if (item.title.empty() || item.published == 0 || !base::is_valid_utf8(item.title)) continue;
      if (item.link.empty()) item.link = "urn:cityroom:news:" + item.key;
      feed.items.push_back(std::move(item));
    }
  };
  bool known = false;
  if (root && named(root, "rss")) {
    if (const auto* channel = child(root, "channel")) {
      finish(channel, "item", false);
      known = true;
    }
  } else if (root && named(root, "feed")) {
    finish(root, "entry", true);
    known = true;
  }
  xmlFreeDoc(doc);
  if (!known) return base::fail(ErrorKind::kBadRequestData, "the document is neither RSS 2.0 nor Atom");
  return feed;
}

base::Result<std::vector<PressTopic>> parse_press_topics(std::string_view text) {
  auto doc = json::parse(text);
  if (!doc || !doc->is_array()) {
    return base::fail(ErrorKind::kBadRequestData, "press topics: an array of {topic, name, keywords}");
  }
  std::vector<PressTopic> out;
  for (const auto& t : doc->as_array()) {
    const auto* o = t.if_object();
    const auto key = o ? json::get_string(*o, "topic") : std::nullopt;
    const auto name = o ? json::get_string(*o, "name") : std::nullopt;
    const auto* kw = o ? json::find(*o, "keywords") : nullptr;
    if (!key || !name || !kw || !kw->is_array() || kw->as_array().empty()) {
      return base::fail(ErrorKind::kBadRequestData, "press topics: each needs topic, name and keywords");
    }
    PressTopic p{std::string(*key), std::string(*name), {}};
    for (const auto& k : kw->as_array()) {
      if (!k.is_string() || k.as_string().empty()) {
        return base::fail(ErrorKind::kBadRequestData, "press topics: keywords are non-empty strings");
      }
      p.keywords.emplace_back(k.as_string());
    }
    out.push_back(std::move(p));
  }
  return out;
}

base::Result<std::vector<PressTopic>> load_press_topics(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return base::fail(ErrorKind::kBadRequestData, "cannot read " + file.string());
  std::stringstream s;
  s << in.rdbuf();
  return parse_press_topics(s.str());
}

std::size_t count_mentions(std::string_view text, std::string_view keyword) {
  if (keyword.empty()) return 0;
  const std::string t = lower_ascii(text), k = lower_ascii(keyword);
  std::size_t n = 0;
  for (auto pos = t.find(k); pos != std::string::npos; pos = t.find(k, pos + k.size())) ++n;
  return n;
}

json::object news_entity(const PressItem& item, std::string_view source,
                         const std::vector<PressTopic>& topics) {
  json::array matched;
  const std::string text = item.title + "\n" + item.summary;
  for (const auto& t : topics) {
    for (const auto& k : t.keywords) {
      if (count_mentions(text, k) > 0) {
        matched.push_back(json::value(t.key));
        break;
      }
    }
  }
  json::object e{{"id", "urn:ngsi-ld:NewsItem:" + item.key},
                 {"type", kNewsType},
                 {"title", item.title},
                 {"link", item.link},
                 {"source", source},
                 {"publishedAt", json::object{{"@type", "DateTime"},
                                              {"@value", base::format_iso8601(item.published)}}}};
  if (!item.summary.empty()) e["summary"] = item.summary;
  if (!matched.empty()) e["topics"] = json::object{{"type", "Property"}, {"value", matched}};
  return e;
}

json::object press_trends(const std::vector<json::object>& items,
                          const std::vector<PressTopic>& topics, std::string_view from,
                          std::string_view to) {
  json::array out;
  for (const auto& t : topics) {
    std::map<std::string, std::size_t> daily, keywords;
    std::size_t total = 0;
    for (const auto& kv : items) {
      const std::string text = str(kv, "title") + "\n" + str(kv, "summary");
      const json::value* p = json::find(kv, "publishedAt");
      std::optional<std::string_view> iso;
      if (p && p->is_object()) iso = json::get_string(p->as_object(), "@value");
      if (p && p->is_string()) iso = p->as_string();
      const auto when = iso ? base::parse_iso8601(*iso) : std::nullopt;
      if (!when) continue;
      for (const auto& k : t.keywords) {
        const std::size_t n = count_mentions(text, k);
        if (n == 0) continue;
        keywords[k] += n;
        daily[city_date(*when)] += n;
        total += n;
      }
    }
    json::array d, k;
    for (const auto& [date, n] : daily) d.push_back(json::object{{"date", date}, {"mentions", n}});
    for (const auto& kw : t.keywords) {
      k.push_back(json::object{{"keyword", kw}, {"mentions", keywords[kw]}});
    }
    out.push_back(json::object{{"topic", t.key}, {"name", t.name}, {"mentions", total},
                               {"daily", std::move(d)}, {"keywords", std::move(k)}});
  }
  return {{"from", from}, {"to", to}, {"items", items.size()}, {"topics", std::move(out)}};
}

}  // namespace cityroom::governance
