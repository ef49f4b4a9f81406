#!/usr/bin/env python3
"""Embeds versioned SQL migrations into a C++ source file.

usage: embed_migrations.py OUT.cpp NNNN_name.sql...
Each file name starts with its version number; files are applied in order.
"""
import os
import sys


def main() -> None:
    out, files = sys.argv[1], sorted(sys.argv[2:], key=os.path.basename)
    parts = []
    for path in files:
        base = os.path.basename(path)
        version = int(base.split("_", 1)[0])
        with open(path, encoding="utf-8") as f:
            sql = f.read()
        if ")__sql__" in sql:
            sys.exit(f"{base}: contains the raw-string delimiter")
        parts.append(f'  {{{version}, "{base}", R"__sql__({sql})__sql__"}},')
    with open(out, "w", encoding="utf-8") as f:
        f.write('#include "actors/persistence/migrations.hpp"\n\n')
        f.write("namespace ping::persistence {\n\n")
        f.write("const std::vector<migration>& migrations() {\n")
        f.write("  static const std::vector<migration> all{\n")
        f.write("\n".join(parts))
        f.write("\n  };\n  return all;\n}\n\n} // namespace ping::persistence\n")


if __name__ == "__main__":
    main()
