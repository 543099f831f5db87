"""Everything that knows Hydra's config machinery, apart from the run entry."""
