#include "agent/providers/provider_factory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/kernels/cuda_probe.h"

namespace dsagent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

ProviderOptions Options(std::string kind) {
  ProviderOptions o;
  o.kind = std::move(kind);
  o.base_url = "https://api.deepseek.com";
  o.api_key = "sk-test";
  o.api_key_env = "DEEPSEEK_API_KEY";
  return o;
}

TEST(ProviderFactoryTest, BuildsEachKind) {
  for (const char* kind : {"deepseek", "deepseek-anthropic", "openai-compatible"}) {
    auto p = MakeProvider(Options(kind));
    ASSERT_TRUE(p.has_value()) << kind << ": " << p.error().message;
    EXPECT_EQ((*p)->Name(), kind);
  }
}

TEST(ProviderFactoryTest, UnknownKindIsAConfigError) {
  auto p = MakeProvider(Options("openai"));
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().kind, ProviderErrorKind::kConfig);
  EXPECT_THAT(p.error().message, HasSubstr("openai"));
  EXPECT_THAT(p.error().message, HasSubstr("deepseek-anthropic"));
}

TEST(ProviderFactoryTest, MissingKeyNamesTheVariable) {
  for (const char* kind : {"deepseek", "deepseek-anthropic"}) {
    ProviderOptions o = Options(kind);
    o.api_key.clear();
    auto p = MakeProvider(o);
    ASSERT_FALSE(p.has_value());
    EXPECT_EQ(p.error().kind, ProviderErrorKind::kConfig);
    EXPECT_THAT(p.error().message, HasSubstr("DEEPSEEK_API_KEY is not set"));
    EXPECT_THAT(p.error().message, HasSubstr(std::string("providers.") + kind + ".api_key"));
  }
  ProviderOptions custom = Options("deepseek");
  custom.api_key.clear();
  custom.api_key_env = "MY_DS_KEY";
  EXPECT_THAT(MakeProvider(custom).error().message, HasSubstr("MY_DS_KEY is not set"));
}

TEST(ProviderFactoryTest, LocalKvBudgetMustBeASize) {
  ProviderOptions o = Options("local");
  o.model_dir = "/nonexistent-model";  // checked after the options, so no model is loaded
  o.kv_max_size = "lots";
  auto p = MakeProvider(o);
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().kind, ProviderErrorKind::kConfig);
  EXPECT_THAT(p.error().message, HasSubstr("providers.local.kv_max_size: 'lots' is not a size"));
  o.kv_max_size = "16G";
  EXPECT_THAT(MakeProvider(o).error().message, Not(HasSubstr("kv_max_size")));
}

// providers.local.device is checked before the model loads: a misspelt device, and cuda where the
// engine cannot run on it (no CUDA backend, no GPU), are config errors naming the key and the way
// out.
TEST(ProviderFactoryTest, LocalDeviceMustBeUsable) {
  ProviderOptions o = Options("local");
  o.model_dir = "/nonexistent-model";
  o.device = "gpu";
  auto p = MakeProvider(o);
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().kind, ProviderErrorKind::kConfig);
  EXPECT_THAT(p.error().message, HasSubstr("providers.local.device: unknown device 'gpu'"));
  o.device = "cpu";  // the model load is what fails now
  EXPECT_THAT(MakeProvider(o).error().message, Not(HasSubstr("device")));
  if (!engine::kernels::ProbeCuda().devices.empty()) GTEST_SKIP() << "a GPU is present";
  o.device = "cuda";
  p = MakeProvider(o);
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().kind, ProviderErrorKind::kConfig);
  EXPECT_THAT(p.error().message, HasSubstr("providers.local.device: cuda:0: "));
  EXPECT_THAT(p.error().message, HasSubstr("use --device cpu"));
}

// Exact numerics and MTP drafts both run on the GPU: neither is refused from the settings (what
// fails here is the missing cuda:3 or the missing model).
TEST(ProviderFactoryTest, LocalCudaTakesExactNumericsAndMtp) {
  ProviderOptions o = Options("local");
  o.model_dir = "/nonexistent-model";
  o.device = "cuda:3";
  o.speculative = "mtp";
  auto p = MakeProvider(o);
  ASSERT_FALSE(p.has_value());  // no cuda:3 here, or no model
  EXPECT_THAT(p.error().message, Not(HasSubstr("CPU engine only")));
  o.speculative = "off";
  o.numerics = "exact";  // the GPU computes exact numerics too: no cuda:3 (or no model) fails
  p = MakeProvider(o);
  ASSERT_FALSE(p.has_value());
  EXPECT_THAT(p.error().message, Not(HasSubstr("CPU engine only")));
  EXPECT_THAT(p.error().message, Not(HasSubstr("numerics")));
}

// providers.local.gpu_memory: a size, and only with a cuda device; checked before the device.
TEST(ProviderFactoryTest, LocalGpuMemoryMustBeASizeForCuda) {
  ProviderOptions o = Options("local");
  o.model_dir = "/nonexistent-model";
  o.device = "cuda";
  o.gpu_memory = "lots";
  auto p = MakeProvider(o);
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().kind, ProviderErrorKind::kConfig);
  EXPECT_THAT(p.error().message, HasSubstr("providers.local.gpu_memory: 'lots' is not a size"));
  o.device = "cpu";
  o.gpu_memory = "24G";
  p = MakeProvider(o);
  ASSERT_FALSE(p.has_value());
  EXPECT_THAT(p.error().message,
              HasSubstr("providers.local.gpu_memory: '24G' caps a GPU's memory, but the device "
                        "is cpu"));
  o.device = "cuda";  // a good cap: the device itself is what is refused here
  p = MakeProvider(o);
  ASSERT_FALSE(p.has_value());
  EXPECT_THAT(p.error().message, HasSubstr("providers.local.device: cuda:0: "));
}

// providers.local.speculative / speculative_accept are checked before the model loads.
TEST(ProviderFactoryTest, LocalSpeculationSettingsAreChecked) {
  ProviderOptions o = Options("local");
  o.model_dir = "/nonexistent-model";
  o.speculative = "yes";
  auto p = MakeProvider(o);
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().kind, ProviderErrorKind::kConfig);
  EXPECT_THAT(p.error().message, HasSubstr("providers.local.speculative: 'yes' is not off or mtp"));
  o.speculative = "mtp";
  o.speculative_accept = "always";
  EXPECT_THAT(MakeProvider(o).error().message,
              HasSubstr("providers.local.speculative_accept: 'always' is not match or standard"));
  o.speculative_accept = "standard";  // the model load is what fails now
  EXPECT_THAT(MakeProvider(o).error().message, Not(HasSubstr("speculative")));
}

TEST(ProviderFactoryTest, OpenAiCompatibleNeedsNoKey) {
  ProviderOptions o = Options("openai-compatible");
  o.api_key.clear();
  o.base_url = "http://127.0.0.1:8000/v1/";
  EXPECT_TRUE(MakeProvider(o).has_value());
}

TEST(ProviderFactoryTest, BaseUrlMustBeHttp) {
  for (const char* url : {"api.deepseek.com", "ftp://api.deepseek.com", "", "https://"}) {
    ProviderOptions o = Options("deepseek");
    o.base_url = url;
    auto p = MakeProvider(o);
    ASSERT_FALSE(p.has_value()) << url;
    EXPECT_EQ(p.error().kind, ProviderErrorKind::kConfig);
    EXPECT_THAT(p.error().message, HasSubstr("base_url"));
  }
}

}  // namespace
}  // namespace dsagent
