"""Admin pages for course templates: the list, and one form to add a template or save its next version."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms import SelectChoice

from kapclinic.accounts.models import Role
from kapclinic.accounts.policy import role_required
from kapclinic.admin import course_templates as services
from kapclinic.admin.forms import CourseTemplateForm
from kapclinic.core.clinic import clinic
from kapclinic.core.errors import DomainError
from kapclinic.core.timezones import format_moment, now_utc
from kapclinic.core.unit_of_work import undone_if_refused
from kapclinic.courses.plan import CourseShape

blueprint = Blueprint("course_templates", __name__, url_prefix="/staff/admin/course-templates")


@blueprint.get("")
@role_required(Role.ADMIN)
def index():
    return render_template("admin/course_templates.html", templates=services.all_templates())


def _type_label(consultation_type):
    parts = [consultation_type.name, f"{consultation_type.duration_minutes} min", consultation_type.modality.label]
    if consultation_type.course_only:
        parts.append("course only")
    if not consultation_type.is_active:
        parts.append("no longer active")
    return " · ".join(parts)


def _form(template):
    """The form with its session types to choose from, holding the template's values on a first visit."""
    form = CourseTemplateForm()
    if template is not None and not form.is_submitted():
        form.process(data=services.form_values(template))
    choices = [SelectChoice("", "Choose a session type")] + [
        SelectChoice(item.id, _type_label(item)) for item in services.session_type_choices(template)
    ]
    for select in (form.preparation_type_id, form.dosing_type_id, form.integration_type_id):
        select.choices = choices
    if template is not None:
        form.slug.data = template.slug  # fixed: courses and audit rows name the template by it
    return form


def _values(form):
    return services.TemplateValues(
        name=form.name.data,
        is_active=form.is_active.data,
        shape=CourseShape(**{name: getattr(form, name).data for name in services.SHAPE_FIELDS}),
        type_ids={kind: getattr(form, name).data for kind, name in services.TYPE_FIELDS.items()},
    )


def _page(form, template, status):
    """The form, and for a saved template its current version in words and its history."""
    version = template.current if template is not None else None
    about_version = {}
    if version is not None:
        about_version = {
            "summary": services.describe(version.shape),
            "session_types": [
                (f"{kind.capitalize()} sessions", item.name) for kind, item in version.types_by_kind.items()
            ],
            "history": services.version_history(template),
        }
    page = render_template(
        "admin/course_template_form.html",
        form=form,
        template=template,
        version=version,
        zone=clinic().zone,
        format_moment=format_moment,
        **about_version,
    )
    return page, status


def _refused(form, template, error):
    """Show each refusal next to the field it names (or above the form); nothing was written."""
    for name, message in getattr(error, "errors", {error.field or "": error.message}).items():
        field = form._fields.get(name)
        if field is None:
            form.form_errors.append(message)
        else:
            field.errors = [message]
    if isinstance(error, services.TemplateOutdated):
        form.based_on.data = str(template.current.number)  # saving again now replaces the newer version, knowingly
        return _page(form, template, 409)
    return _page(form, template, 422)


def _save(template):
    form = _form(template)
    if not form.validate_on_submit():
        return _page(form, template, 422 if form.is_submitted() else 200)
    try:
        with undone_if_refused():
            saved = services.save_template(
                current_user,
                template,
                _values(form),
                now_utc(),
                slug=form.slug.data,
                based_on=form.based_on_number,
            )
    except DomainError as error:
        return _refused(form, template, error)
    number = saved.template.current.number
    if template is None:
        flash(f"{saved.template.name}: added as version 1.")
    elif saved.new_version:
        flash(f"{saved.template.name}: saved as version {number}. Courses already opened keep the version they have.")
    elif saved.changes:
        flash(f"{saved.template.name}: saved. The course itself is unchanged (version {number}).")
    else:
        flash(f"{saved.template.name}: nothing changed.")
    return redirect(url_for("course_templates.index"))


@blueprint.route("/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def new_template():
    return _save(None)


@blueprint.route("/<id:template_id>", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def edit_template(template_id):
    template = services.template_by_id(template_id, for_update=request.method == "POST")
    if template is None:
        abort(404)
    return _save(template)
