"""Flask extensions, created once here and bound to the app in create_app()."""

from flask_compress import Compress
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

compress = Compress()
csrf = CSRFProtect()
migrate = Migrate()
