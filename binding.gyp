{
  "targets": [
    {
      "target_name": "crc32c",
      "sources": ["native/crc32c.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "xcode_settings": { "OTHER_CFLAGS": ["-O2", "-Wall", "-Wextra"] }
    }
  ]
}
