"""Who may open a staff page, declared on the view: @role_required("admin", "front_desk")."""

from functools import wraps

from flask import abort
from flask_login import current_user, login_required


def role_required(*roles):
    """Anonymous visitors go to the login page; signed-in staff without the role get 403."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not current_user.has_role(*roles):
                abort(403, "Your role does not give access to this page.")
            return view(*args, **kwargs)

        return wrapped

    return decorator


def staff_required(view):
    """Any signed-in staff member, whatever the role."""
    return login_required(view)
