// RankDefinitions: Aider's repo-map ranking (see README.md). Files are nodes of a graph with an
// edge from each file that references an identifier to each file that defines it, weighted by how
// telling the identifier is and how often it is used; personalised PageRank over that graph, biased
// toward the session's focus files, ranks the files, and each file's rank flows along its edges to
// the (file, identifier) definitions it uses.
#pragma once

#include <cstddef>
#include <set>
#include <string>
#include <vector>

#include "tools/repomap/file_scan.h"

namespace dsagent::repomap {

struct RankedDefinition {
  size_t file = 0;  // index into the scanned files
  size_t tag = 0;   // index into that file's tags (a definition)
  double rank = 0;
};

struct RankingFocus {
  std::set<std::string> files;        // relative paths the session touched or mentioned
  std::set<std::string> identifiers;  // symbols the session mentioned
};

// Every definition outside the focus files (the model has those already), except namespaces and
// modules (shown only as scope headers of what they contain), best first; equal ranks are ordered
// by path, line and name, so identical input gives identical output. Pure function; thread-safe.
std::vector<RankedDefinition> RankDefinitions(const std::vector<ScannedFile>& files,
                                              const RankingFocus& focus);

// The edge weight multiplier for `identifier` (before the referencing file's x50 and the sqrt of
// the reference count): x10 mentioned, x10 a long (>= 8) snake/kebab/camel-case name, x0.1 a
// leading underscore, x0.1 defined in more than 5 files. Exposed for tests.
double IdentifierWeight(const std::string& identifier, bool mentioned, size_t defining_files);

}  // namespace dsagent::repomap
