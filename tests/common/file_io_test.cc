#include "common/file_io.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/support/temp_dir.h"

namespace dsagent {
namespace {
namespace fs = std::filesystem;

// dir_: an empty scratch directory, removed after each test.
class FileIoTest : public TempDirTest {};

TEST_F(FileIoTest, WritesAndReadsBackCreatingParents) {
  const fs::path p = dir_ / "a" / "b" / "c.txt";
  ASSERT_TRUE(WriteFileAtomic(p, "hello\n"));
  auto back = ReadFileToString(p);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, "hello\n");
  // No temp files left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(p.parent_path()), fs::directory_iterator()), 1);
}

TEST_F(FileIoTest, OverwriteKeepsExecutableBit) {
  const fs::path p = dir_ / "script.sh";
  ASSERT_TRUE(WriteFileAtomic(p, "#!/bin/sh\n"));
  fs::permissions(p, fs::perms::owner_all);
  ASSERT_TRUE(WriteFileAtomic(p, "#!/bin/sh\necho hi\n"));
  EXPECT_NE(fs::status(p).permissions() & fs::perms::owner_exec, fs::perms::none);
}

TEST_F(FileIoTest, ReadMissingFileNamesThePath) {
  auto r = ReadFileToString(dir_ / "nope");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("nope"), std::string::npos);
}

TEST_F(FileIoTest, WriteIntoUnwritableDirectoryFailsAndLeavesOriginal) {
  if (geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  const fs::path p = dir_ / "ro" / "f.txt";
  ASSERT_TRUE(WriteFileAtomic(p, "original"));
  fs::permissions(dir_ / "ro", fs::perms::owner_read | fs::perms::owner_exec);
  auto r = WriteFileAtomic(p, "new");
  fs::permissions(dir_ / "ro", fs::perms::owner_all);
  ASSERT_FALSE(r);
  EXPECT_EQ(*ReadFileToString(p), "original");
}

TEST_F(FileIoTest, AtomicFileWriterPublishesOnlyOnCommit) {
  const fs::path p = dir_ / "big.bin";
  ASSERT_TRUE(WriteFileAtomic(p, "old"));
  {
    auto w = AtomicFileWriter::Create(p);
    ASSERT_TRUE(w) << w.error();
    ASSERT_TRUE((*w)->Append("new "));
    ASSERT_TRUE((*w)->Append("content"));
    EXPECT_EQ(*ReadFileToString(p), "old");  // not yet committed
  }                                          // abandoned: the temp file goes, the old content stays
  EXPECT_EQ(*ReadFileToString(p), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);

  auto w = AtomicFileWriter::Create(p);
  ASSERT_TRUE(w);
  ASSERT_TRUE((*w)->Append("new content"));
  ASSERT_TRUE((*w)->Commit());
  EXPECT_EQ(*ReadFileToString(p), "new content");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
  EXPECT_FALSE((*w)->Append("more"));
}

TEST_F(FileIoTest, AtomicFileWriterUnderAFileIsAClearError) {
  ASSERT_TRUE(WriteFileAtomic(dir_ / "file", "x"));
  auto w = AtomicFileWriter::Create(dir_ / "file" / "out.bin");
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().find("out.bin: cannot create temporary file"), std::string::npos)
      << w.error();
}

}  // namespace
}  // namespace dsagent
