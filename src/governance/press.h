// governance/press: press and media trends — news items from RSS 2.0 or Atom feeds (parsed
// with libxml2, no network and no entity expansion), the city's topics and keywords
// (data/governance/press_topics.json), and mention counts per day.
//
// An item becomes a `NewsItem` entity (core context): id `urn:ngsi-ld:NewsItem:<64-bit hash
// of the link or guid>`, `title`, `link`, `summary`, `source` (the feed's title or the import's
// name), `publishedAt` (DateTime), `topics` (the topic keys it mentions). Trends are counted
// when asked, from the stored text and the current topics, so a new keyword applies to the
// past too. Pure functions; thread-safe.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"
#include "json/json.h"

namespace cityroom::governance {

inline constexpr std::string_view kNewsType = "NewsItem";
inline constexpr std::size_t kFeedBytesMax = 8 * 1024 * 1024;

struct PressItem {
  std::string key;      // stable: hash of guid/id or link
  std::string title;
  std::string link;
  std::string summary;  // markup stripped
  base::Micros published = 0;
};

struct PressFeed {
  std::string title;
  std::vector<PressItem> items;
};

// RSS 2.0 (<rss><channel><item>) or Atom (<feed><entry>). Items without a date or a title are
// skipped; a document that is neither is BadRequestData.
base::Result<PressFeed> parse_feed(std::string_view xml);

// RFC 822 dates as RSS writes them ("Sun, 22 Nov 2026 12:00:00 +0900", "GMT", "KST").
std::optional<base::Micros> parse_rfc822(std::string_view s);

struct PressTopic {
  std::string key;
  std::string name;
  std::vector<std::string> keywords;
};
base::Result<std::vector<PressTopic>> load_press_topics(const std::filesystem::path& file);
base::Result<std::vector<PressTopic>> parse_press_topics(std::string_view text);

// How many times `keyword` occurs in `text` (Latin letters case-insensitive).
std::size_t count_mentions(std::string_view text, std::string_view keyword);

// A feed item → a concise NewsItem entity.
json::object news_entity(const PressItem& item, std::string_view source,
                         const std::vector<PressTopic>& topics);

// NewsItems (keyValues) → {"from","to","items","topics":[{"topic","name","mentions",
// "daily":[{"date","mentions"}],"keywords":[{"keyword","mentions"}]}]} (days in city time).
json::object press_trends(const std::vector<json::object>& items,
                          const std::vector<PressTopic>& topics, std::string_view from,
                          std::string_view to);

}  // namespace cityroom::governance
