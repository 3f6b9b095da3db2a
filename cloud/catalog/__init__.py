"""资源中心 (resource center): search, browsing, previews and downloads of published resources."""
