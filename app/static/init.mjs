// Starts GOV.UK Frontend's components (error summary focus, details, etc.).
import { initAll } from "../assets/dist/govuk-frontend.min.js";

initAll();
