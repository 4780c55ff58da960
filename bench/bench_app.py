"""The app as gunicorn serves it in production, plus the bare endpoint the benchmarks compare against.

`gunicorn --pythonpath bench bench_app:app`: the bare endpoint is one indexed
primary-key query through the same app, database pool and server.
"""

from sqlalchemy import text

from kapclinic import create_app
from kapclinic.extensions import db

app = create_app()


@app.get("/bench/bare")
def bare():
    row = db.session.execute(text("SELECT id, status FROM bookings WHERE id = :id"), {"id": 1}).first()
    return {"id": row[0], "status": row[1]}
