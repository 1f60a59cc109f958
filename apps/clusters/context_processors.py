from .selectors import halted_clusters


def halted_clusters_banner(request):
    """The clusters whose automation is halted, for the safety banner on every page."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {"halted_clusters": halted_clusters()}
