#!/usr/bin/env python3
"""Embeds the admin web console (one self-contained HTML file) into C++.

usage: embed_console.py OUT.cpp index.html
"""
import sys


def main() -> None:
    out, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        html = f.read()
    if ")__html__" in html:
        sys.exit(f"{path}: contains the raw-string delimiter")
    with open(out, "w", encoding="utf-8") as f:
        f.write('#include "admin/console/console.hpp"\n\n')
        f.write("namespace ping::admin {\n\n")
        f.write("std::string_view console_page() {\n")
        f.write(f'  static constexpr std::string_view page = R"__html__({html})__html__";\n')
        f.write("  return page;\n}\n\n} // namespace ping::admin\n")


if __name__ == "__main__":
    main()
