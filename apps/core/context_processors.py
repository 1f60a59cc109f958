from .roles import Cap, user_caps
from .selectors import safety_state_get, worker_last_seen


def safety_banner(request):
    """The current mode for the banner on every page, and what the user may do."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    caps = user_caps(request.user)
    return {
        "safety": safety_state_get(),
        "caps": {c.value for c in caps},
        "Cap": Cap,
        "worker_seen": worker_last_seen(),
        "viewer_zone": getattr(request, "viewer_zone", "UTC"),
    }
