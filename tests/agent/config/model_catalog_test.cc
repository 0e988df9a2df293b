#include "agent/config/model_catalog.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include "tests/support/temp_dir.h"

namespace dsagent {
namespace {
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono;  // NOLINT: date literals read best unqualified

// 2026-04-26 12:15:00 UTC written out by hand, independent of the parser under test.
sys_seconds Utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return sys_days(year(y) / month(mo) / day(d)) + hours(h) + minutes(mi) + seconds(s);
}

void ExpectPrice(const std::optional<Price>& price, double hit, double miss, double output) {
  ASSERT_TRUE(price.has_value());
  EXPECT_DOUBLE_EQ(price->input_cache_hit_per_mtok, hit);
  EXPECT_DOUBLE_EQ(price->input_cache_miss_per_mtok, miss);
  EXPECT_DOUBLE_EQ(price->output_per_mtok, output);
}

TEST(ModelCatalogBuiltInTest, ListsV4ModelsAndAliases) {
  const ModelCatalog& catalog = ModelCatalog::BuiltIn();
  EXPECT_THAT(catalog.Ids(), ElementsAre("deepseek-chat", "deepseek-reasoner", "deepseek-v4-flash",
                                         "deepseek-v4-pro"));
  for (const char* id : {"deepseek-v4-flash", "deepseek-v4-pro"}) {
    const ModelInfo* model = catalog.Find(id);
    ASSERT_NE(model, nullptr) << id;
    EXPECT_EQ(model->id, id);
    EXPECT_EQ(model->context_tokens, 1048576);
    EXPECT_EQ(model->max_output_tokens, 393216);
    EXPECT_EQ(model->alias_of, "");
    EXPECT_FALSE(model->retired_at.has_value());
  }
  EXPECT_EQ(catalog.Find("gpt-4o"), nullptr);
  EXPECT_EQ(catalog.PriceAt("gpt-4o", Utc(2026, 5, 1)), std::nullopt);
}

TEST(ModelCatalogBuiltInTest, FlashPricesAcrossTheCacheHitCut) {
  const ModelCatalog& catalog = ModelCatalog::BuiltIn();
  const std::string flash = "deepseek-v4-flash";
  EXPECT_EQ(catalog.PriceAt(flash, Utc(2026, 4, 23, 23, 59, 59)), std::nullopt);  // before launch
  ExpectPrice(catalog.PriceAt(flash, Utc(2026, 4, 24)), 0.028, 0.14, 0.28);
  ExpectPrice(catalog.PriceAt(flash, Utc(2026, 4, 26, 12, 14, 59)), 0.028, 0.14, 0.28);
  ExpectPrice(catalog.PriceAt(flash, Utc(2026, 4, 26, 12, 15)), 0.0028, 0.14, 0.28);
  ExpectPrice(catalog.PriceAt(flash, Utc(2027, 1, 1)), 0.0028, 0.14, 0.28);
  const auto price = catalog.PriceAt(flash, Utc(2026, 4, 26, 12, 15));
  EXPECT_EQ(price->effective, "2026-04-26T12:15:00Z");
  EXPECT_EQ(price->effective_at, Utc(2026, 4, 26, 12, 15));
}

TEST(ModelCatalogBuiltInTest, ProPricesThroughThePromotion) {
  const ModelCatalog& catalog = ModelCatalog::BuiltIn();
  const std::string pro = "deepseek-v4-pro";
  EXPECT_EQ(catalog.PriceAt(pro, Utc(2026, 1, 1)), std::nullopt);
  ExpectPrice(catalog.PriceAt(pro, Utc(2026, 4, 25)), 0.03625, 0.435, 0.87);
  ExpectPrice(catalog.PriceAt(pro, Utc(2026, 4, 26, 12, 15)), 0.003625, 0.435, 0.87);
  ExpectPrice(catalog.PriceAt(pro, Utc(2026, 5, 31, 15, 58, 59)), 0.003625, 0.435, 0.87);
  // The promotion was made permanent: no list-price entry after 2026-05-31.
  ExpectPrice(catalog.PriceAt(pro, Utc(2026, 5, 31, 15, 59)), 0.003625, 0.435, 0.87);
  ExpectPrice(catalog.PriceAt(pro, Utc(2026, 11, 23)), 0.003625, 0.435, 0.87);
}

TEST(ModelCatalogBuiltInTest, AliasesArePricedAsFlashAndRetire) {
  const ModelCatalog& catalog = ModelCatalog::BuiltIn();
  for (const char* id : {"deepseek-chat", "deepseek-reasoner"}) {
    const ModelInfo* alias = catalog.Find(id);
    ASSERT_NE(alias, nullptr) << id;
    EXPECT_EQ(alias->alias_of, "deepseek-v4-flash");
    ASSERT_TRUE(alias->retired_at.has_value());
    EXPECT_EQ(*alias->retired_at, Utc(2026, 7, 24, 15, 59));
    ExpectPrice(catalog.PriceAt(id, Utc(2026, 4, 25)), 0.028, 0.14, 0.28);
    ExpectPrice(catalog.PriceAt(id, Utc(2026, 6, 1)), 0.0028, 0.14, 0.28);
  }
}

constexpr char kOneModel[] =
    "models:\n"
    "  m:\n"
    "    context_tokens: 1000\n"
    "    max_output_tokens: 100\n"
    "    prices:\n"
    "      - {effective: \"2026-03-01T00:00:00Z\", input_cache_hit: 3, input_cache_miss: 30,"
    " output: 300}\n"
    "      - {effective: \"2026-01-01\", input_cache_hit: 1, input_cache_miss: 10, output: 100}\n"
    "      - {effective: \"2026-02-01T06:30Z\", input_cache_hit: 2, input_cache_miss: 20,"
    " output: 200}\n";

TEST(ModelCatalogParseTest, SortsPricesWrittenInAnyOrder) {
  auto catalog = ModelCatalog::Parse(kOneModel, "test.yaml");
  ASSERT_TRUE(catalog) << catalog.error();
  const ModelInfo* m = catalog->Find("m");
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->prices.size(), 3u);
  EXPECT_EQ(m->prices[0].effective_at, Utc(2026, 1, 1));
  EXPECT_EQ(m->prices[1].effective_at, Utc(2026, 2, 1, 6, 30));
  EXPECT_EQ(m->prices[2].effective_at, Utc(2026, 3, 1));
  EXPECT_EQ(catalog->PriceAt("m", Utc(2025, 12, 31, 23, 59, 59)), std::nullopt);
  ExpectPrice(catalog->PriceAt("m", Utc(2026, 1, 1)), 1, 10, 100);
  ExpectPrice(catalog->PriceAt("m", Utc(2026, 2, 1, 6, 29, 59)), 1, 10, 100);
  ExpectPrice(catalog->PriceAt("m", Utc(2026, 2, 1, 6, 30)), 2, 20, 200);
  ExpectPrice(catalog->PriceAt("m", Utc(2026, 3, 1)), 3, 30, 300);
}

TEST(ModelCatalogParseTest, EmptyTextIsAnEmptyCatalog) {
  auto catalog = ModelCatalog::Parse("", "empty.yaml");
  ASSERT_TRUE(catalog) << catalog.error();
  EXPECT_TRUE(catalog->Ids().empty());
}

// The error for `yaml` (a test failure if it parses).
std::string ParseError(const std::string& yaml) {
  auto catalog = ModelCatalog::Parse(yaml, "bad.yaml");
  EXPECT_FALSE(catalog) << yaml;
  return catalog ? "" : catalog.error();
}

std::string ModelWith(const std::string& fields, const std::string& price_fields) {
  return "models:\n  m:\n" + fields + "    prices:\n      - " + price_fields + "\n";
}

constexpr char kGoodFields[] = "    context_tokens: 1000\n    max_output_tokens: 100\n";
constexpr char kGoodPrice[] =
    "{effective: \"2026-01-01T00:00:00Z\", input_cache_hit: 1, input_cache_miss: 2, output: 3}";

TEST(ModelCatalogParseTest, TheHelpersBuildAValidModel) {
  EXPECT_TRUE(ModelCatalog::Parse(ModelWith(kGoodFields, kGoodPrice), "good.yaml"));
}

TEST(ModelCatalogParseTest, UnknownFieldIsNamedWithSuggestion) {
  const std::string error = ParseError(
      ModelWith("    contxt_tokens: 1000\n    context_tokens: 1000\n    max_output_tokens: 100\n",
                kGoodPrice));
  EXPECT_THAT(error, HasSubstr("bad.yaml:3: models.m.contxt_tokens: unknown field"));
  EXPECT_THAT(error, HasSubstr("did you mean 'context_tokens'?"));
}

TEST(ModelCatalogParseTest, UnknownPriceFieldIsNamed) {
  const std::string error =
      ParseError(ModelWith(kGoodFields,
                           "{effective: \"2026-01-01\", input_cache_hit: 1, input_cache_miss: 2, "
                           "output: 3, ouput: 4}"));
  EXPECT_THAT(error, HasSubstr("models.m.prices[0].ouput: unknown field (did you mean 'output'?)"));
}

TEST(ModelCatalogParseTest, MissingFieldsAreNamed) {
  EXPECT_THAT(ParseError(ModelWith("    context_tokens: 1000\n", kGoodPrice)),
              HasSubstr("models.m: missing field 'max_output_tokens'"));
  EXPECT_THAT(ParseError(ModelWith(kGoodFields,
                                   "{effective: \"2026-01-01\", input_cache_hit: 1,"
                                   " input_cache_miss: 2}")),
              HasSubstr("models.m.prices[0]: missing field 'output'"));
  EXPECT_THAT(ParseError("models:\n  m:\n    context_tokens: 1\n    max_output_tokens: 1\n"),
              HasSubstr("models.m: missing field 'prices'"));
}

TEST(ModelCatalogParseTest, WrongTypesAreNamed) {
  EXPECT_THAT(
      ParseError(ModelWith("    context_tokens: lots\n    max_output_tokens: 100\n", kGoodPrice)),
      HasSubstr("bad.yaml:3: models.m.context_tokens: expects a positive integer, got "
                "\"lots\""));
  EXPECT_THAT(ParseError(ModelWith(kGoodFields,
                                   "{effective: \"2026-01-01\", input_cache_hit: "
                                   "free, input_cache_miss: 2, output: 3}")),
              HasSubstr("models.m.prices[0].input_cache_hit: expects a non-negative price"));
  EXPECT_THAT(ParseError(ModelWith(kGoodFields,
                                   "{effective: \"2026-01-01\", input_cache_hit: "
                                   "-1, input_cache_miss: 2, output: 3}")),
              HasSubstr("models.m.prices[0].input_cache_hit: expects a non-negative price"));
  EXPECT_THAT(ParseError("models:\n  m:\n" + std::string(kGoodFields) + "    prices: []\n"),
              HasSubstr("models.m.prices: expects a non-empty list of prices"));
  EXPECT_THAT(ParseError("models: [a, b]\n"), HasSubstr("models: expects a mapping of model ids"));
  EXPECT_THAT(
      ParseError(ModelWith("    context_tokens: 100\n    max_output_tokens: 1000\n", kGoodPrice)),
      HasSubstr("models.m.max_output_tokens: is larger than context_tokens"));
}

TEST(ModelCatalogParseTest, InvalidTimestampsAreRejected) {
  for (const char* bad : {"2026-02-30T00:00:00Z", "2026-04-24 12:00", "2026-04-24T12:00:00+08:00",
                          "2026-04-24T12:00:00", "April 24", "2026-04-24T24:00:00Z"}) {
    const std::string price = std::string("{effective: \"") + bad +
                              "\", input_cache_hit: 1, input_cache_miss: 2, output: 3}";
    EXPECT_THAT(ParseError(ModelWith(kGoodFields, price)),
                HasSubstr("models.m.prices[0].effective: expects an ISO 8601 UTC timestamp"))
        << bad;
  }
}

TEST(ModelCatalogParseTest, TwoPricesAtTheSameInstantAreRejected) {
  const std::string yaml = ModelWith(kGoodFields, kGoodPrice) + "      - " +
                           "{effective: \"2026-01-01T00:00Z\", input_cache_hit: 9, "
                           "input_cache_miss: 9, output: 9}\n";
  EXPECT_THAT(ParseError(yaml), HasSubstr("two prices take effect at the same instant"));
}

TEST(ModelCatalogParseTest, AliasMustNameAModel) {
  const std::string yaml =
      ModelWith(kGoodFields + std::string("    alias_of: ghost\n"), kGoodPrice);
  EXPECT_THAT(ParseError(yaml), HasSubstr("models.m.alias_of: 'ghost' is not a model"));
}

TEST(ModelCatalogParseTest, MalformedYamlNamesLine) {
  EXPECT_THAT(ParseError("models:\n  m:\n    context_tokens: 1: 2\n"), HasSubstr("bad.yaml:3:"));
}

TEST(ModelCatalogParseTest, UnknownTopLevelKeyIsRejected) {
  EXPECT_THAT(ParseError("modles: {}\n"),
              HasSubstr("modles: unknown field (did you mean 'models'?)"));
}

class ModelCatalogLoadTest : public TempDirTest {};

TEST_F(ModelCatalogLoadTest, UserFileReplacesAndAddsModels) {
  const auto path = Write("models.yaml",
                          "models:\n"
                          "  deepseek-v4-pro:\n"
                          "    context_tokens: 1048576\n"
                          "    max_output_tokens: 393216\n"
                          "    prices:\n"
                          "      - {effective: \"2026-09-14T00:00:00Z\", input_cache_hit: 0.01,"
                          " input_cache_miss: 0.5, output: 1.5}\n"
                          "  my-flash:\n"
                          "    alias_of: deepseek-v4-flash\n"
                          "    context_tokens: 131072\n"
                          "    max_output_tokens: 8192\n"
                          "    prices:\n"
                          "      - {effective: \"2026-01-01\", input_cache_hit: 0,"
                          " input_cache_miss: 0, output: 0}\n");
  auto catalog = ModelCatalog::Load(path);
  ASSERT_TRUE(catalog) << catalog.error();
  EXPECT_THAT(catalog->Ids(), ElementsAre("deepseek-chat", "deepseek-reasoner", "deepseek-v4-flash",
                                          "deepseek-v4-pro", "my-flash"));
  // The user's Pro entry replaced the built-in one entirely, history included.
  EXPECT_EQ(catalog->PriceAt("deepseek-v4-pro", Utc(2026, 6, 1)), std::nullopt);
  ExpectPrice(catalog->PriceAt("deepseek-v4-pro", Utc(2026, 9, 14)), 0.01, 0.5, 1.5);
  ExpectPrice(catalog->PriceAt("my-flash", Utc(2026, 5, 1)), 0, 0, 0);
  ExpectPrice(catalog->PriceAt("deepseek-v4-flash", Utc(2026, 5, 1)), 0.0028, 0.14, 0.28);
  // The built-in catalog is untouched.
  ExpectPrice(ModelCatalog::BuiltIn().PriceAt("deepseek-v4-pro", Utc(2026, 6, 1)), 0.003625, 0.435,
              0.87);
  EXPECT_EQ(ModelCatalog::BuiltIn().Find("my-flash"), nullptr);
}

TEST_F(ModelCatalogLoadTest, MissingUserFileGivesTheBuiltInCatalog) {
  auto catalog = ModelCatalog::Load(dir_ / "absent.yaml");
  ASSERT_TRUE(catalog) << catalog.error();
  EXPECT_EQ(catalog->Ids(), ModelCatalog::BuiltIn().Ids());
}

TEST_F(ModelCatalogLoadTest, DefaultPathIsUnderXdgConfigHome) {
  Write("xdg/dsagent/models.yaml",
        "models:\n  extra:\n    context_tokens: 10\n    max_output_tokens: 5\n"
        "    prices: [{effective: \"2026-01-01\", input_cache_hit: 1, input_cache_miss: 1,"
        " output: 1}]\n");
  ASSERT_EQ(setenv("XDG_CONFIG_HOME", (dir_ / "xdg").c_str(), 1), 0);
  auto catalog = ModelCatalog::Load();
  unsetenv("XDG_CONFIG_HOME");
  ASSERT_TRUE(catalog) << catalog.error();
  EXPECT_NE(catalog->Find("extra"), nullptr);
}

TEST_F(ModelCatalogLoadTest, InvalidUserFileIsNamedInTheError) {
  const auto path = Write("models.yaml", "models:\n  deepseek-v4-pro:\n    context_tokens: x\n");
  auto catalog = ModelCatalog::Load(path);
  ASSERT_FALSE(catalog);
  EXPECT_THAT(catalog.error(),
              HasSubstr(path.string() + ":3: models.deepseek-v4-pro.context_tokens"));
  EXPECT_THAT(catalog.error(), Not(HasSubstr("configs/models.yaml")));
}

}  // namespace
}  // namespace dsagent
