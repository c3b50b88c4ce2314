"""CDK infrastructure for paperfoundry: one construct per concern, wired by PaperFoundryStack."""

from stacks.config import AppConfig, load_config
from stacks.github_oidc_stack import GithubOidcStack
from stacks.paperfoundry_stack import PaperFoundryStack

__all__ = ["AppConfig", "GithubOidcStack", "PaperFoundryStack", "load_config"]
